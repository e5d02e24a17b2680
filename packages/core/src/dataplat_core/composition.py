"""One composition per code location; each environment states only how it differs.

A code location's components are declared once, in a composition folder (`deployments/locations/<location>/`):
`defs/` holds the YAML and SQL, `values.yaml` every value an environment may change, with its default. A
deployment (one environment's package for that location) holds an `environment.yaml` beside its
pyproject.toml that names its composition and the values it sets:

    # deployments/local/ingestion/environment.yaml
    composition: ../../locations/ingestion        # relative to this file
    values:
      sales_partition_end_date: "2026-04-01"

YAML reads a value as `{{ environment.sales_partition_end_date }}`, with `template_vars_module:
dataplat_core.template_vars` (Dagster's template-variable hook). A value set by an environment but absent from
`values.yaml`, or read by YAML but declared nowhere, refuses the load with the file to fix: a typo never falls
back to a default silently.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import yaml

DEPLOYMENT_FILE = "environment.yaml"
DEFAULTS_FILE = "values.yaml"


class CompositionError(ValueError):
    """A deployment's environment file or its composition's values file is wrong; the message names the file.

    A ValueError, not a LookupError: Jinja turns a LookupError raised by an attribute into a silent undefined."""


def _mapping(path: Path, key: str | None = None) -> dict[str, Any]:
    if not path.is_file():
        raise CompositionError(f"{path}: missing")
    loaded = yaml.safe_load(path.read_text()) or {}
    found = loaded.get(key) if key and isinstance(loaded, dict) else loaded
    if not isinstance(loaded, dict) or not isinstance(found or {}, dict):
        raise CompositionError(f"{path}: expected a mapping{f' under {key!r}' if key else ''}")
    return dict(found or {})


@dataclass(frozen=True)
class Deployment:
    """A deployment's `environment.yaml`: the composition it runs and the values it changes."""

    root: Path  # the folder of the deployment's pyproject.toml and environment.yaml
    composition: Path
    values: dict[str, Any]

    @staticmethod
    @cache
    def at(root: Path) -> Deployment:
        path = root / DEPLOYMENT_FILE
        declared = _mapping(path)
        unknown = sorted(set(declared) - {"composition", "values"})
        if unknown or "composition" not in declared:
            raise CompositionError(
                f"{path}: expected `composition:` (a folder) and optional `values:`"
                + (f"; unknown keys: {', '.join(unknown)}" if unknown else "")
            )
        composition = (root / declared["composition"]).resolve()
        if not (composition / "defs").is_dir():
            raise CompositionError(f"{path}: composition {composition} has no defs/ folder")
        values = _mapping(path, "values")
        defaults = _mapping(composition / DEFAULTS_FILE)
        undeclared = sorted(set(values) - set(defaults))
        if undeclared:
            raise CompositionError(
                f"{path}: {', '.join(undeclared)} not declared in {composition / DEFAULTS_FILE}; "
                f"declared: {', '.join(sorted(defaults)) or 'none'}"
            )
        return Deployment(root, composition, {**defaults, **values})

    @staticmethod
    def of(path_within: Path) -> Deployment:
        """The deployment a file belongs to: the nearest folder above it holding a pyproject.toml."""
        for folder in [path_within, *path_within.parents]:
            if (folder / "pyproject.toml").is_file():
                return Deployment.at(folder.resolve())
        raise CompositionError(f"{path_within}: no pyproject.toml above it")

    def defs_module(self) -> ModuleType:
        """The composition's `defs/` folder as a namespace package, the form Dagster's ComponentTree loads."""
        # Named by the folder's path: two compositions of the same name (as in tests) stay two modules.
        digest = hashlib.sha256(str(self.composition).encode()).hexdigest()[:12]
        name = f"dataplat_composition_{self.composition.name}_{digest}"
        if name not in sys.modules:
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(self.composition / "defs")]
            sys.modules[name] = importlib.util.module_from_spec(spec)
        return sys.modules[name]

    def build_defs(self) -> dg.Definitions:
        tree = dg.ComponentTree(defs_module=self.defs_module(), project_root=self.root)
        return tree.build_defs()


class EnvironmentValues:
    """`{{ environment.<name> }}` in YAML: the deployment's values over its composition's defaults, read when
    first used (YAML that reads no value needs no environment file, as in a package's own tests)."""

    def __init__(self, root: Path):
        self._root = root

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        deployment = Deployment.at(self._root)
        if name not in deployment.values:
            raise CompositionError(
                f"`environment.{name}` is read by YAML but not declared in "
                f"{deployment.composition / DEFAULTS_FILE}; declared: {', '.join(sorted(deployment.values))}"
            )
        return deployment.values[name]


@dg.template_var
def environment(context: dg.ComponentLoadContext) -> EnvironmentValues:
    return EnvironmentValues(Path(context.project_root).resolve())
