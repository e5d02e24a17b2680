"""Component types of this package, listed by `dg list components` through the registry entry point."""

from dataplat_reporting.sql_mart import SqlMartComponent

__all__ = ["SqlMartComponent"]
