"""The one resource factory: the shared resources a code location is given, built from its environment.

Resource keys are the platform's contract with the components. Core builds two:

- `warehouse`: the `Warehouse` the environment declares (`platform.yaml`'s `warehouse`): `WarehouseDuckDB`
  (a DuckDB file that waits for another process's lock, `WAREHOUSE_LOCK_TIMEOUT_S`) or `WarehouseSnowflake`
- `artifacts`: where trained models and rendered reports are kept (`ARTIFACTS_URL`)

Every other resource (a source, the landing area, Sling) is provided by the package whose components need it,
with its variables, through the entry point `dataplat.resources` (`variables.py`): core knows no source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dataplat_core.artifacts import ArtifactStore
from dataplat_core.binaries import configure_offline_binaries, duckdb_connection_config
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.environment import (
    EnvironmentSpec,
    PlatformSettings,
    built_in_spec,
    core_variables,
    load_settings,
)
from dataplat_core.variables import ProvidedResource, Variable, provided, provided_variables, unique
from dataplat_core.warehouse import Warehouse

CORE_KEYS = ("warehouse", "artifacts")


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


def build_order() -> list[ProvidedResource]:
    """Every installed package's provided resources, each after the provided ones it needs (core's are built
    first). A key nobody provides is Dagster's to report: the component requiring it fails the load."""
    available = provided()
    order: list[ProvidedResource] = []
    for key in available:
        for need in (*available[key].needs, key):
            if need in available and available[need] not in order:
                order.append(available[need])
    return order


def variables_of(warehouse: str) -> tuple[Variable, ...]:
    """Every variable core and the installed packages' resources read, on `warehouse`."""
    return unique([*core_variables(warehouse), *provided_variables()])


def build_resources(
    spec: EnvironmentSpec | None = None,
    environ: Mapping[str, str] | None = None,
    extra_variables: Sequence[Variable] = (),
) -> dict[str, Any]:
    """Core's resources and every installed package's provided ones, in the environment `spec` declares
    (default: local). Fails with one message naming every missing variable, those of `extra_variables` (read
    elsewhere, by the composition's own resources) included."""
    spec = spec or built_in_spec(environ)
    settings = load_settings(spec, environ, [*variables_of(spec.warehouse), *extra_variables])
    configure_offline_binaries(settings.state_dir)
    built: dict[str, Any] = {
        "warehouse": WAREHOUSES[settings.warehouse](settings),
        "artifacts": ArtifactStore(url=settings.resource_value("ARTIFACTS_URL")),
    }
    for resource in build_order():
        built[resource.key] = resource.build(settings, built)
    return built
