"""Component types of this package, listed by `dg list components` through the registry entry point."""

from dataplat_api_sources.component import RestApiIngestionComponent
from dataplat_api_sources.connection import RestApiConnectionComponent

__all__ = ["RestApiConnectionComponent", "RestApiIngestionComponent"]
