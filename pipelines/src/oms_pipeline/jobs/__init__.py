"""Job entry points (what a Databricks ``spark_python_task`` runs): parse, get a session, call."""
