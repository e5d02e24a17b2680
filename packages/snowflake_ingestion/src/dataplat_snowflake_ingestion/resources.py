"""The resources this package's components require, and the variables they read, provided to core through the
entry point `dataplat.resources` (pyproject.toml; `dataplat_core.variables`):

- `source_postgres`: the operational PostgreSQL, read through a read-only role (`SOURCE_PG_*`)
- `landing`: where daily file exports land (`LANDING_URL`)
- `sling`: a `SlingResource` with connections `SOURCE_PG` (the source) and `WAREHOUSE` (core's `warehouse`)

A code location that installs this package is given them and asked for their variables; one that does not
(analytics) is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_sling import SlingConnectionResource, SlingResource
from dataplat_core.environment import PlatformSettings
from dataplat_core.variables import ProvidedResource, Variable
from dataplat_core.warehouse import quote_table
from pydantic import Field

WAREHOUSE_CONNECTION = "WAREHOUSE"
SOURCE_CONNECTION = "SOURCE_PG"


# What PostgreSQL answers to a wrong user or password (through libpq, and through Sling's Go driver).
CREDENTIALS_REFUSED = re.compile(
    r"password authentication failed|SQLSTATE 28P01|SQLSTATE 28000|role \"[^\"]*\" does not exist"
)


class SourceUnreachable(ConnectionError):
    """The source PostgreSQL refused or lost the connection; the message names host, port, database and role."""


class SourceCredentialsRefused(SourceUnreachable):
    """The source answered, and refused the user or password: a retry cannot fix it (`is_transient`)."""

    transient = False


class PostgresSource(dg.ConfigurableResource):
    """Connection settings of the operational PostgreSQL (read-only role)."""

    host: str
    port: int
    database: str
    user: str
    password: str = Field(repr=False)
    sslmode: str = "disable"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"

    def connect(self):
        """A read-only psycopg connection (keyword arguments: no escaping pitfalls with odd passwords).
        Raises `SourceUnreachable` naming the server when it cannot connect."""
        import psycopg

        try:
            return psycopg.connect(
                host=self.host, port=self.port, dbname=self.database, user=self.user, password=self.password,
                sslmode=self.sslmode, connect_timeout=10, options="-c default_transaction_read_only=on",
            )  # fmt: skip
        except psycopg.OperationalError as exc:
            if CREDENTIALS_REFUSED.search(str(exc)):
                raise SourceCredentialsRefused(
                    f"source PostgreSQL at {self.address} refused the credentials of user {self.user}: check "
                    f"SOURCE_PG_USER and SOURCE_PG_PASSWORD. The server said: {exc}".strip()
                ) from exc
            raise SourceUnreachable(
                f"source PostgreSQL at {self.address} unreachable (as {self.user}): {exc}".strip()
            ) from exc

    def row_count(self, table: str) -> int:
        """Rows in a source table (`schema.table`, validated and quoted)."""
        import psycopg

        with self.connect() as conn:
            try:
                return conn.execute(f"select count(*) from {quote_table(table)}").fetchone()[0]
            except psycopg.OperationalError as exc:  # the server went away mid-query
                raise SourceUnreachable(
                    f"source PostgreSQL at {self.address} lost the connection counting {table}: {exc}".strip()
                ) from exc


class LandingFolderMissing(FileNotFoundError):
    pass


class LandingLocation(dg.ConfigurableResource):
    """Root of the landing area: a local folder, or an object-store URL in prod."""

    url: str

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")

    def local_path(self) -> Path:
        if not self.is_local:
            raise ValueError(f"landing location {self.url} is not a local folder")
        return Path(self.url.removeprefix("file://"))

    def existing_folder(self) -> Path:
        """`local_path()`, which must exist: a missing landing root is a wrong LANDING_URL or an unmounted
        volume, not a day's missing file, and is said so once instead of once per partition."""
        path = self.local_path()
        if not path.is_dir():
            raise LandingFolderMissing(
                f"LANDING_URL={self.url}: the landing folder {path} does not exist. Point LANDING_URL at the "
                "landing area or mount it there (locally, `dataplat-sandbox up` writes it and its env file)."
            )
        return path


SOURCE_PG_VARIABLES = (
    Variable("SOURCE_PG_HOST", "the source PostgreSQL's host", local_default="127.0.0.1"),
    Variable("SOURCE_PG_PORT", "the source PostgreSQL's port"),
    Variable("SOURCE_PG_DATABASE", "the source database", local_default="shop"),
    Variable(
        "SOURCE_PG_USER",
        "the read-only role the platform logs in to the source as",
        local_default="replicator",
    ),
    Variable("SOURCE_PG_PASSWORD", "that role's password", secret=True),
    Variable("SOURCE_PG_SSLMODE", "libpq's sslmode (prod: require)", local_default="disable"),
)
LANDING_VARIABLES = (
    Variable("LANDING_URL", "the landing area of the daily file exports: a folder (or an object-store URL)"),
)


def _pg_config(settings: PlatformSettings) -> dict[str, Any]:
    return {
        "host": settings.resource_value("SOURCE_PG_HOST"),
        "port": settings.resource_value("SOURCE_PG_PORT", int),
        "database": settings.resource_value("SOURCE_PG_DATABASE"),
        "user": settings.resource_value("SOURCE_PG_USER"),
        "password": dg.EnvVar("SOURCE_PG_PASSWORD"),
        "sslmode": settings.resource_value("SOURCE_PG_SSLMODE"),
    }


def _sling(settings: PlatformSettings, built: Mapping[str, Any]) -> SlingResource:
    source = SlingConnectionResource(name=SOURCE_CONNECTION, type="postgres", **_pg_config(settings))
    return SlingResource(connections=[source, built["warehouse"].sling_connection(WAREHOUSE_CONNECTION)])


RESOURCES = (
    ProvidedResource(
        "source_postgres",
        "the operational PostgreSQL, read through a read-only role",
        SOURCE_PG_VARIABLES,
        lambda settings, _: PostgresSource(**_pg_config(settings)),
    ),
    ProvidedResource(
        "landing",
        "where daily file exports land",
        LANDING_VARIABLES,
        lambda settings, _: LandingLocation(url=settings.resource_value("LANDING_URL")),
    ),
    ProvidedResource(
        "sling",
        "Sling, with connections SOURCE_PG (the source) and WAREHOUSE (the warehouse)",
        SOURCE_PG_VARIABLES,
        _sling,
        needs=("warehouse",),
    ),
)
