"""Readers and writers: every Spark I/O of the pipeline goes through this package."""
