"""Stream wiring per layer: readers -> transformations -> writers, driven by foreachBatch."""
