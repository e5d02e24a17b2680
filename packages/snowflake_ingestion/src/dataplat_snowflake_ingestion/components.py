"""Component types of this package, listed by `dg list components` through the registry entry point."""

from dataplat_snowflake_ingestion.files.component import FileIngestionComponent
from dataplat_snowflake_ingestion.sling_replication import DatabaseReplicationComponent

__all__ = ["DatabaseReplicationComponent", "FileIngestionComponent"]
