"""Helpers for the platform packages' tests: one way to declare a component under test and to read a run's
check results. Imported by tests only, never by a code location (it imports Dagster's component test kit)."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg


@contextmanager
def declared_component(
    component_type: type,
    attributes: Mapping[str, Any],
    *,
    files: Mapping[str, str] | None = None,
    platform_resources: bool = True,
) -> Iterator[tuple[Any, dg.Definitions]]:
    """(component, definitions) of one component declared in a defs.yaml, exactly as a deployment declares it
    (`type` is its package's public `components` module), with `files` written beside the YAML (a Sling
    replication, a mart's SQL). `platform_resources`: merged with the environment's resources
    (`build_resources`), as a code location is; False for a test that binds its own."""
    from dagster.components.testing import create_defs_folder_sandbox

    from dataplat_core.resources import build_resources

    package = component_type.__module__.split(".")[0]
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_type,
            defs_yaml_contents={
                "type": f"{package}.components.{component_type.__name__}",
                "attributes": dict(attributes),
            },
        )
        for name, text in (files or {}).items():
            (Path(path) / name).write_text(text)
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            if platform_resources:
                defs = dg.Definitions.merge(defs, dg.Definitions(resources=build_resources()))
            yield component, defs


def checks_by_name(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """A run's check evaluations by check name (the last one of a name wins)."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}
