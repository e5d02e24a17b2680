"""Deterministic local fake sources (PostgreSQL, payments API, CSV landing folder) for the online shop."""

from .config import SandboxConfig
from .landing import DEFECTS, LandingFiles, write_landing, write_sales_csv
from .payments_api import FaultConfig, PaymentsApiServer
from .postgres import SandboxPostgres
from .sandbox import ENV_KEYS, Sandbox

__version__ = "0.1.0"
__all__ = [
    "DEFECTS",
    "ENV_KEYS",
    "FaultConfig",
    "LandingFiles",
    "PaymentsApiServer",
    "Sandbox",
    "SandboxConfig",
    "SandboxPostgres",
    "write_landing",
    "write_sales_csv",
]
