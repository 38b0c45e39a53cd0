"""Pure DataFrame -> DataFrame transformations (no reads, no writes)."""
