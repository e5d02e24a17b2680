"""Ingestion into the warehouse: Sling database replication and daily-partitioned landing-file loads."""

from importlib.metadata import version

__version__ = version("dataplat-snowflake-ingestion")
