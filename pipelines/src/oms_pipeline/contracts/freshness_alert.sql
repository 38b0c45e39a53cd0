-- Landing -> Gold freshness of the OMS lakehouse, evaluated by two Databricks SQL alerts.
-- p95_over_objective: a Gold refresh of the last {window_minutes} minutes published with a p95 lag above the
-- objective. refresh_overdue: no Gold refresh recorded for 3 x the objective (or none ever).
SELECT
  max(p95_lag_seconds) FILTER (
    WHERE refreshed_at >= current_timestamp() - INTERVAL {window_minutes} MINUTES
  ) AS p95_lag_seconds_15m,
  timestampdiff(SECOND, max(refreshed_at), current_timestamp()) AS seconds_since_last_refresh,
  {objective_seconds} AS objective_seconds,
  3 * {objective_seconds} AS max_seconds_between_refreshes,
  coalesce(
    max(p95_lag_seconds) FILTER (
      WHERE refreshed_at >= current_timestamp() - INTERVAL {window_minutes} MINUTES
    ) > {objective_seconds},
    false
  ) AS p95_over_objective,
  coalesce(
    timestampdiff(SECOND, max(refreshed_at), current_timestamp()) > 3 * {objective_seconds},
    true
  ) AS refresh_overdue
FROM {table}
