"""Ingestion into the warehouse: Sling database replication (and, next, partitioned file loads)."""

from importlib.metadata import version

__version__ = version("dataplat-snowflake-ingestion")
