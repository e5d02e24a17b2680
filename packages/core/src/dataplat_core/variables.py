"""The environment variables the platform reads, declared by the package that reads them.

Core declares its own (the warehouse's, the state folder, the artifacts store). Every other package brings its
resources and their variables through the entry-point group `dataplat.resources`, as component types are
registered through `dagster_dg_cli.registry_modules`:

    # packages/<pkg>/pyproject.toml
    [project.entry-points."dataplat.resources"]
    dataplat-snowflake-ingestion = "dataplat_snowflake_ingestion.resources:RESOURCES"

`RESOURCES` is a sequence of `ProvidedResource`: a resource key, the variables it reads and how it is built.
Core knows no source: a code location gets the resources its components require, from whichever installed
package provides them, and is asked for exactly their variables (`definitions.code_location`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataplat_core.environment import PlatformSettings

ENTRY_POINT_GROUP = "dataplat.resources"
VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Variable:
    """One environment variable. A `secret` is only ever passed on as `dg.EnvVar` (read by the run worker, never
    stored) and has no default; `local_default` (may use `{data_home}`) is its value in the built-in local
    environment; an optional variable (`required=False`) is read where it is used, and may stay unset."""

    name: str
    description: str
    secret: bool = False
    required: bool = True
    local_default: str | None = None

    def __post_init__(self) -> None:
        if not VARIABLE_NAME.match(self.name):
            raise ValueError(f"{self.name!r} is not an environment variable name (A-Z, 0-9 and _)")
        if self.secret and self.local_default is not None:
            raise ValueError(f"{self.name} is a secret: it has no default")


@dataclass(frozen=True)
class ProvidedResource:
    """A shared resource a package provides: its key, the variables it reads, and `build(settings, built)`,
    which gets the environment's settings and the resources built before it (core's `warehouse`, say)."""

    key: str
    description: str
    variables: tuple[Variable, ...]
    build: Callable[[PlatformSettings, Mapping[str, Any]], Any]
    needs: tuple[str, ...] = ()  # keys built before this one, whose variables it reads too
    package: str = field(default="", compare=False)  # the distribution providing it, filled by `provided()`


class ResourceConflict(RuntimeError):
    pass


@cache
def provided() -> Mapping[str, ProvidedResource]:
    """Every resource the installed packages provide, by key. Two packages providing one key refuse the load.
    Read once per process (~6 ms: the installed distributions' entry_points.txt)."""
    from dataclasses import replace
    from importlib.metadata import entry_points

    found: dict[str, ProvidedResource] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        package = entry.dist.name if entry.dist else entry.value.partition(".")[0]
        for resource in entry.load():
            if resource.key in found:
                raise ResourceConflict(
                    f"the resource {resource.key!r} is provided by both {found[resource.key].package} and "
                    f"{package}: uninstall one, or rename the key in one of them"
                )
            found[resource.key] = replace(resource, package=package)
    return found


def provided_variables() -> tuple[Variable, ...]:
    """Every variable the installed packages' resources read (each name once)."""
    return unique(v for resource in provided().values() for v in resource.variables)


def unique(variables: Iterable[Variable]) -> tuple[Variable, ...]:
    """The variables, each name once (in first-seen order); one name declared twice differently is an error."""
    seen: dict[str, Variable] = {}
    for v in variables:
        if v.name in seen and (seen[v.name].secret, seen[v.name].local_default) != (
            v.secret,
            v.local_default,
        ):
            raise ValueError(f"{v.name} is declared twice, differently: {seen[v.name]} and {v}")
        seen.setdefault(v.name, v)
    return tuple(seen.values())


def secret_names(variables: Sequence[Variable]) -> frozenset[str]:
    return frozenset(v.name for v in variables if v.secret)
