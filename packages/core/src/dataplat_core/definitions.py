"""Compose component definitions with the environment's shared resources (the deployments call this)."""

import sys
import warnings
from pathlib import Path

import dagster as dg

from dataplat_core.alerts import alert_sensors
from dataplat_core.automation import automation_sensor
from dataplat_core.composition import Deployment
from dataplat_core.environment import (
    LOCAL,
    LOCAL_SPEC,
    EnvironmentMismatch,
    EnvironmentSpec,
    deployment_environment,
)
from dataplat_core.resources import build_resources

DIST_PREFIX = "dataplat-"


def platform_versions() -> dict[str, str]:
    """Version of every platform package installed in this code location's environment.

    Read from the `<name>-<version>.dist-info` folder names (the wheel spec's naming) rather than
    `importlib.metadata.distributions()`, which parses the metadata of all ~250 installed distributions
    and cost a tenth of the code location's load time."""
    prefix = DIST_PREFIX.replace("-", "_")
    found: dict[str, str] = {}
    for entry in sys.path:
        folder = Path(entry or ".")
        if not folder.is_dir():
            continue
        for info in folder.glob(f"{prefix}*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").partition("-")
            found.setdefault(name.replace("_", "-"), version)  # first on sys.path wins, as for imports
    return dict(sorted(found.items()))


VERSIONS_METADATA_KEY = "dataplat/versions"


def platform_definitions(
    *component_defs: dg.Definitions,
    env: EnvironmentSpec | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """The components' definitions with the environment's resources, the alert sensors (`alerts.py`) and, when
    assets declare automation conditions, a running automation sensor for them (`automation.py`). Every asset
    this location materializes carries the versions of the platform packages the location runs (metadata
    `dataplat/versions`, shown on the asset's page in the UI); the same versions are the definitions' metadata (`version/<dist>`)."""
    versions = platform_versions()
    shown = ", ".join(f"{name} {version}" for name, version in versions.items())
    automation = automation_sensor(dg.Definitions.merge(*component_defs))
    platform = dg.Definitions(
        resources=build_resources(env),
        sensors=[*alert_sensors(), *([automation] if automation else [])],
        metadata={f"version/{name}": version for name, version in versions.items()},
        executor=executor,
    )
    merged = dg.Definitions.merge(*component_defs, platform)
    # Dagster's one way to add metadata to every asset of merged definitions; "in preview" in 1.13, and its
    # PreviewWarning reached every code location load and the demo's output. Only that warning is silenced.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Function `Definitions\.map_resolved_asset_specs` is currently"
        )
        return merged.map_resolved_asset_specs(
            func=lambda spec: spec.merge_attributes(metadata={VERSIONS_METADATA_KEY: shown}),
            selection=dg.AssetSelection.all(),  # external assets (other locations') excluded by default
        )


def code_location(
    definitions_file: str | Path,
    *,
    environment: str,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """A deployment's whole code location: the composition its `environment.yaml` names (the components
    declared in YAML under the composition's `defs/`, with the environment's values: `composition.py`),
    composed with the resources of the environment it states. Each deployment's `definitions.py` is one call
    to this. It refuses to load when PLATFORM_ENV disagrees (`deployment_environment`), and outside local
    when the environment folder (`deployments/<environment>/`, the deployment's parent) is another or has no
    `platform.yaml`."""
    env = deployment_environment(environment)
    deployment = Deployment.of(Path(definitions_file).resolve().parent)
    spec = LOCAL_SPEC if env == LOCAL else EnvironmentSpec.read(deployment.root.parent)
    if spec.name != env:
        raise EnvironmentMismatch(
            f"{definitions_file} states the {env} environment, but its deployment is in the folder of "
            f"{spec.name} ({deployment.root.parent}): move it, or state {spec.name}"
        )
    return platform_definitions(deployment.build_defs(), env=spec, executor=executor)
