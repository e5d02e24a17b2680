"""Models trained on warehouse tables, with metrics, checks and batch scoring."""

from importlib.metadata import version

__version__ = version("dataplat-ml-training")
