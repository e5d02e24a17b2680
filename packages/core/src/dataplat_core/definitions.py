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
    built_in_spec,
    deployment_environment,
)
from dataplat_core.resources import build_resources, variables_of
from dataplat_core.variables import Variable, unique

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
VARIABLES_METADATA_KEY = "dataplat/variables"


def declared_variables(component_defs: dg.Definitions) -> tuple[Variable, ...]:
    """The variables the composition's own resources read (a `RestApiConnectionComponent`'s `base_url_env`, say):
    their fields holding a `dg.EnvVar`. A field hidden from `repr` (`Field(repr=False)`) holds a secret."""
    found = []
    for key, resource in sorted((component_defs.resources or {}).items()):
        if not isinstance(resource, dg.ConfigurableResource):
            continue
        for name, info in type(resource).model_fields.items():
            value = getattr(resource, name, None)
            if isinstance(value, dg.EnvVar):
                description = f"the `{key}` resource's {name}, declared by the composition"
                found.append(Variable(value.env_var_name, description, secret=not info.repr))
    return unique(found)


def platform_definitions(
    *component_defs: dg.Definitions,
    env: EnvironmentSpec | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """The components' definitions with the environment's resources (core's, and those of every installed package
    that provides some: `resources.build_resources`), the alert sensors (`alerts.py`) and, when
    assets declare automation conditions, a running automation sensor for them (`automation.py`). Every asset
    this location materializes carries the versions of the platform packages the location runs (metadata
    `dataplat/versions`, shown on the asset's page in the UI); the same versions are the definitions' metadata (`version/<dist>`), and every variable the location reads is
    listed in `dataplat/variables` (name, secret, required). A missing variable, one the composition's own
    resources read included, fails the load in one message."""
    versions = platform_versions()
    shown = ", ".join(f"{name} {version}" for name, version in versions.items())
    components = dg.Definitions.merge(*component_defs)
    automation = automation_sensor(components)
    spec = env or built_in_spec()
    declared = declared_variables(components)
    variables = unique([*variables_of(spec.warehouse), *declared])  # core's, the packages', the composition's
    platform = dg.Definitions(
        resources=build_resources(spec, extra_variables=declared),
        sensors=[*alert_sensors(), *([automation] if automation else [])],
        metadata={
            **{f"version/{name}": version for name, version in versions.items()},
            VARIABLES_METADATA_KEY: dg.MetadataValue.json(
                [{"name": v.name, "secret": v.secret, "required": v.required} for v in variables]
            ),
        },
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
