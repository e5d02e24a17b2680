"""Deterministic local fake sources (PostgreSQL, payments and shipments APIs, CSV landing folder) for the online shop."""

from .api_server import FaultConfig
from .config import SandboxConfig
from .landing import DEFECTS, LandingFiles, write_landing, write_sales_csv
from .payments_api import PaymentsApiServer
from .postgres import SandboxPostgres
from .sandbox import ENV_KEYS, Sandbox
from .shipments_api import ShipmentsApiServer

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
    "ShipmentsApiServer",
    "write_landing",
    "write_sales_csv",
]
