"""Shared core of the Dagster ETL reference platform.

Imports stay light: nothing here reads the environment or touches the network at import time.
"""

from importlib.metadata import version

from dataplat_core.environment import (
    EnvironmentSpec,
    MissingEnvironmentVariables,
    current_environment,
    load_settings,
)

__version__ = version("dataplat-core")

__all__ = [
    "EnvironmentSpec",
    "MissingEnvironmentVariables",
    "current_environment",
    "load_settings",
    "__version__",
]
