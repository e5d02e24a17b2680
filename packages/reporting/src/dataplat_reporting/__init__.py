"""SQL marts and a human-readable report over the warehouse."""

from importlib.metadata import version

__version__ = version("dataplat-reporting")
