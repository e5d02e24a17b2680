"""REST API ingestion through dlt into the warehouse."""

from importlib.metadata import version

__version__ = version("dataplat-api-sources")
