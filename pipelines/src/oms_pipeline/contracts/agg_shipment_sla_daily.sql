-- gold.agg_shipment_sla_daily: a view over gold.fact_shipments, computed by the warehouse at
-- query time. {fact_shipments} is replaced by the table's name (Unity Catalog) or path (locally);
-- the Gold contract (contracts/gold.py) describes every column.
--
-- Every shipment is in exactly one group, so each count and ship_lead_days_sum reconciles with
-- the fact. The SLA clock starts at the order: a shipment is dated by its order date
-- (date_basis 'order'); one whose order line is missing or quarantined still counts, dated by
-- the first of its promised delivery date ('promise'), ship date ('shipped') and the date of its
-- current status ('status'), which every shipment has (docs/metrics.md).
WITH dated AS (
  SELECT
    *,
    COALESCE(to_date(order_ts), promised_delivery_date, to_date(shipped_ts), to_date(status_ts))
      AS sla_date,
    CASE
      WHEN order_ts IS NOT NULL THEN 'order'
      WHEN promised_delivery_date IS NOT NULL THEN 'promise'
      WHEN shipped_ts IS NOT NULL THEN 'shipped'
      WHEN status_ts IS NOT NULL THEN 'status'
    END AS date_basis
  FROM {fact_shipments}
),
grouped AS (
  SELECT
    sla_date,
    date_basis,
    carrier,
    service_level,
    region,
    COUNT(*) AS shipment_count,
    COUNT_IF(is_shipped) AS shipped_count,
    COUNT_IF(is_delivered) AS delivered_count,
    COUNT_IF(is_late_vs_sla IS NOT NULL) AS sla_evaluated_count,
    COUNT_IF(is_late_vs_sla) AS late_vs_sla_count,
    COUNT_IF(is_on_time_vs_promise IS NOT NULL) AS promise_evaluated_count,
    COUNT_IF(NOT is_on_time_vs_promise) AS late_vs_promise_count,
    COALESCE(SUM(ship_lead_days), CAST(0 AS DOUBLE)) AS ship_lead_days_sum,
    COUNT(ship_lead_days) AS ship_lead_days_count,
    AVG(ship_lead_days) AS ship_lead_days_mean,
    PERCENTILE(ship_lead_days, 0.5) AS ship_lead_days_p50,
    PERCENTILE(ship_lead_days, 0.9) AS ship_lead_days_p90,
    AVG(delivery_lead_days) AS delivery_lead_days_mean,
    PERCENTILE(delivery_lead_days, 0.5) AS delivery_lead_days_p50,
    PERCENTILE(delivery_lead_days, 0.9) AS delivery_lead_days_p90
  FROM dated
  GROUP BY sla_date, date_basis, carrier, service_level, region
)
SELECT
  sla_date,
  date_basis,
  CAST(date_format(sla_date, 'yyyyMMdd') AS INT) AS date_key,
  carrier,
  service_level,
  region,
  shipment_count,
  shipped_count,
  delivered_count,
  sla_evaluated_count,
  late_vs_sla_count,
  CASE WHEN sla_evaluated_count > 0 THEN 1 - late_vs_sla_count / sla_evaluated_count END
    AS on_time_vs_sla_rate,
  promise_evaluated_count,
  late_vs_promise_count,
  CASE WHEN promise_evaluated_count > 0 THEN 1 - late_vs_promise_count / promise_evaluated_count END
    AS on_time_vs_promise_rate,
  ship_lead_days_sum,
  ship_lead_days_count,
  ship_lead_days_mean,
  ship_lead_days_p50,
  ship_lead_days_p90,
  delivery_lead_days_mean,
  delivery_lead_days_p50,
  delivery_lead_days_p90
FROM grouped
