"""The live OMS feed: the event factory in streaming mode (``sources.factory``), kept importable
here under its public names (``FeedConfig``, ``MasterData``, ``master_data``, ``batch_events``)."""

from oms_pipeline.sources.factory import ENTITY_ORDER, FeedConfig, batch_events, master_data
from oms_pipeline.sources.world import MasterData

__all__ = ["ENTITY_ORDER", "FeedConfig", "MasterData", "batch_events", "master_data"]
