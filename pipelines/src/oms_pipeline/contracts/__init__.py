"""Data contracts: landed entities (bronze/silver input) and the Gold star schema."""

from oms_pipeline.contracts.base import EntityContract, Field
from oms_pipeline.contracts.entities import CONTRACTS, get_contract

__all__ = ["CONTRACTS", "EntityContract", "Field", "get_contract"]
