"""OMS lakehouse pipeline: landing -> bronze -> silver -> gold on Delta Lake."""

__version__ = "0.1.0"
