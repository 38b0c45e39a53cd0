"""Job entry points (the console scripts a Databricks ``python_wheel_task`` calls): parse, get a
session, call."""
