-- gold.agg_sales_daily: a view over gold.fact_order_lines, computed by the warehouse at query
-- time. {fact_order_lines} is replaced by the table's name (Unity Catalog) or path (locally);
-- the Gold contract (contracts/gold.py) describes every column.
SELECT
  order_date,
  CAST(date_format(order_date, 'yyyyMMdd') AS INT) AS date_key,
  region,
  segment,
  category,
  COUNT(DISTINCT CASE WHEN NOT is_cancelled THEN order_id END) AS order_count,
  COUNT_IF(NOT is_cancelled) AS line_count,
  CAST(COALESCE(SUM(CASE WHEN NOT is_cancelled THEN quantity END), 0) AS BIGINT) AS quantity,
  CAST(COALESCE(SUM(CASE WHEN NOT is_cancelled THEN net_amount END), 0) AS DECIMAL(22, 4))
    AS revenue,
  CAST(COALESCE(SUM(CASE WHEN NOT is_cancelled THEN profit END), 0) AS DECIMAL(22, 4)) AS profit,
  COUNT_IF(is_cancelled) AS cancelled_line_count,
  CAST(COALESCE(SUM(CASE WHEN is_cancelled THEN net_amount END), 0) AS DECIMAL(22, 4))
    AS cancelled_amount
FROM {fact_order_lines}
GROUP BY order_date, region, segment, category
