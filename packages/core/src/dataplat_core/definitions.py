"""Compose component definitions with the environment's shared resources (the deployments call this)."""

from importlib.metadata import distributions
from pathlib import Path

import dagster as dg

from dataplat_core.environment import PlatformEnv
from dataplat_core.resources import build_resources

DIST_PREFIX = "dataplat-"


def platform_versions() -> dict[str, str]:
    """Version of every platform package installed in this code location's environment."""
    found = {dist.metadata["Name"]: dist.version for dist in distributions()}
    return {name: version for name, version in sorted(found.items()) if name.startswith(DIST_PREFIX)}


def platform_definitions(
    *component_defs: dg.Definitions,
    env: PlatformEnv | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """The components' definitions, the environment's resources, and (as definitions metadata, shown with
    the code location) the versions of the platform packages this location runs."""
    versions = {f"version/{name}": version for name, version in platform_versions().items()}
    platform = dg.Definitions(resources=build_resources(env), metadata=versions, executor=executor)
    return dg.Definitions.merge(*component_defs, platform)


def code_location(
    definitions_file: str | Path, *, executor: dg.ExecutorDefinition | None = None
) -> dg.Definitions:
    """A deployment's whole code location: the components declared in YAML under its `defs/` folder, composed
    with the environment's resources. Each deployment's `definitions.py` is one call to this."""
    defs = dg.load_from_defs_folder(path_within_project=Path(definitions_file).parent)
    return platform_definitions(defs, executor=executor)
