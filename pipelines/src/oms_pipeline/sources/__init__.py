"""Synthetic and imported sources of landing files: the OMS world (``world``), the one event
factory driven in batch and streaming mode (``factory``) and the one landing-file writer and
naming scheme every producer uses (``landing``)."""
