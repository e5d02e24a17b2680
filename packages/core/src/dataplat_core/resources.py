"""The one resource factory: every shared resource, built from the environment switch.

Resource keys are the platform's contract with the components:

- `warehouse`: the `Warehouse` the environment declares (`platform.yaml`'s `warehouse`): `WarehouseDuckDB`
  (a DuckDB file that waits for another process's lock, `WAREHOUSE_LOCK_TIMEOUT_S`) or `WarehouseSnowflake`
- `artifacts`: where trained models and rendered reports are kept (`ARTIFACTS_URL`)
- `source_postgres`: the operational PostgreSQL, read through a read-only role
- `landing`: where daily file exports land
- `payments_api`: base URL and token of the payments provider
- `sling`: a `SlingResource` with connections `SOURCE_PG` (the source) and `WAREHOUSE` (the target)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_sling import SlingConnectionResource, SlingResource
from pydantic import Field

from dataplat_core.artifacts import ArtifactStore
from dataplat_core.binaries import configure_offline_binaries, duckdb_connection_config
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.environment import EnvironmentSpec, PlatformSettings, load_settings
from dataplat_core.warehouse import Warehouse, quote_table

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


class LandingFolderMissing(FileNotFoundError):
    pass


class PaymentsApi(dg.ConfigurableResource):
    """The payments provider's REST API."""

    base_url: str
    token: str = Field(repr=False)


def _from_env(settings: PlatformSettings, name: str) -> Any:
    """dg.EnvVar for a variable that came from the environment (read again by the run worker, never stored),
    the literal value for an environment default."""
    return dg.EnvVar(name) if settings.is_from_environment(name) else settings.value(name)


def _duckdb(settings: PlatformSettings) -> Warehouse:
    path = settings.folder("WAREHOUSE_DUCKDB_PATH", parent_of=True)
    return WarehouseDuckDB(database=str(path), connection_config=duckdb_connection_config())


def _snowflake(settings: PlatformSettings) -> Warehouse:
    try:
        from dataplat_core.snowflake_warehouse import WarehouseSnowflake
    except ImportError as exc:  # the local venvs do not carry the Snowflake connector
        raise ImportError(
            f"PLATFORM_ENV={settings.env} runs on Snowflake and needs the extra: pip install 'dataplat-core[snowflake]'"
        ) from exc
    return WarehouseSnowflake.from_environment()


# The implementations of `Warehouse`, by the name an environment declares.
WAREHOUSES = {"duckdb": _duckdb, "snowflake": _snowflake}


def build_resources(
    spec: EnvironmentSpec | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """All shared resources of the environment `spec` declares (default: local). Fails with one message
    listing every missing variable."""
    settings = load_settings(spec, environ)
    configure_offline_binaries(settings.state_dir)
    warehouse = WAREHOUSES[settings.warehouse](settings)
    pg = {
        "host": _from_env(settings, "SOURCE_PG_HOST"),
        "port": dg.EnvVar.int("SOURCE_PG_PORT"),
        "database": _from_env(settings, "SOURCE_PG_DATABASE"),
        "user": _from_env(settings, "SOURCE_PG_USER"),
        "password": dg.EnvVar("SOURCE_PG_PASSWORD"),
        "sslmode": _from_env(settings, "SOURCE_PG_SSLMODE"),
    }
    sling_source = SlingConnectionResource(name=SOURCE_CONNECTION, type="postgres", **pg)
    return {
        "warehouse": warehouse,
        "artifacts": ArtifactStore(url=_from_env(settings, "ARTIFACTS_URL")),
        "source_postgres": PostgresSource(**pg),
        "landing": LandingLocation(url=_from_env(settings, "LANDING_URL")),
        "payments_api": PaymentsApi(
            base_url=_from_env(settings, "PAYMENTS_API_URL"), token=dg.EnvVar("PAYMENTS_API_TOKEN")
        ),
        "sling": SlingResource(connections=[sling_source, warehouse.sling_connection(WAREHOUSE_CONNECTION)]),
    }
