"""The one environment switch, and the settings each environment needs.

`PLATFORM_ENV` is read here and nowhere else, and only when definitions are built (never at import time),
so a code location imports fast and can be imported without any configuration at all.

An environment is data: `local` is built in (a fresh clone, the tests and the demo run on it with nothing
declared); every other environment is a folder `deployments/<name>/` whose `platform.yaml` says which
warehouse it runs on and the defaults of its variables, read by `EnvironmentSpec.read`. Adding one (a `qa`,
say) is that folder and its locations' deployment packages, no Python (docs/environments.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from dataplat_core.variables import VARIABLE_NAME, Variable, provided_variables, secret_names, unique

PLATFORM_ENV_VAR = "PLATFORM_ENV"
LOCAL = "local"
PLATFORM_FILE = "platform.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class MissingEnvironmentVariables(RuntimeError):
    """Raised once, naming every variable the environment lacks (not just the first)."""

    def __init__(self, env: str, missing: list[str]):
        self.env = env
        self.missing = sorted(missing)
        # The sandbox writes the local sources' variables; elsewhere they come from the deployment's secrets.
        hint = (
            "locally `dataplat-sandbox up --env-file .env` writes the source ones"
            if env == LOCAL
            else "from the deployment's secrets: the Helm values' env and secret references, docs/environments.md"
        )
        super().__init__(
            f"PLATFORM_ENV={env} is missing {len(self.missing)} required environment variable(s): "
            + ", ".join(self.missing)
            + f". Set them in the environment ({hint})."
        )


class InvalidEnvironment(ValueError):
    pass


def current_environment(environ: Mapping[str, str] | None = None) -> str:
    """The single place that reads PLATFORM_ENV. Unset means local: a fresh clone runs without setup."""
    raw = (os.environ if environ is None else environ).get(PLATFORM_ENV_VAR, LOCAL)
    name = raw.strip().lower()
    if not _NAME.match(name):
        raise InvalidEnvironment(
            f"{PLATFORM_ENV_VAR}={raw!r} is not an environment name (lower-case letters, digits, - and _)"
        )
    return name


class EnvironmentMismatch(RuntimeError):
    """A deployment stated one environment and PLATFORM_ENV says another (or nothing, outside local)."""


def deployment_environment(stated: str, environ: Mapping[str, str] | None = None) -> str:
    """The environment of a deployment that states `stated`, once PLATFORM_ENV agrees. Two switches that
    could disagree are made to agree: unset PLATFORM_ENV means local, so a prod pod without it would run
    against a DuckDB file inside the pod; this refuses to load instead."""
    raw = (os.environ if environ is None else environ).get(PLATFORM_ENV_VAR)
    if raw is None and stated != LOCAL:
        raise EnvironmentMismatch(
            f"this code location is the {stated} deployment, but {PLATFORM_ENV_VAR} is not set (unset means "
            f"local: it would run against a DuckDB file on this host). Set {PLATFORM_ENV_VAR}={stated} in "
            "its environment (the Helm values' env, docs/environments.md)."
        )
    actual = current_environment(environ)
    if actual != stated:
        raise EnvironmentMismatch(
            f"this code location is the {stated} deployment, but {PLATFORM_ENV_VAR}={raw}: one of them is "
            f"wrong. Set {PLATFORM_ENV_VAR}={stated} for this deployment, or run the {actual} one."
        )
    return actual


# Core's own variables (every other package declares its own: `variables.py`). Secrets are passed to resources
# as dg.EnvVar so that their values are read by the run worker and never shown in the UI or stored.
# The DuckDB default is absolute: every code location (each started in its own folder) must open one file.
DUCKDB_VARIABLES = (
    Variable(
        "WAREHOUSE_DUCKDB_PATH",
        "the DuckDB warehouse file (one file for every code location)",
        local_default="{data_home}/dataplat/warehouse.duckdb",
    ),
)
# Field of the Snowflake resource (and key of Sling's connection, which takes the connector's names) -> variable.
SNOWFLAKE_FIELDS = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
    "password": "SNOWFLAKE_PASSWORD",
    "database": "SNOWFLAKE_DATABASE",
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "role": "SNOWFLAKE_ROLE",
}
SNOWFLAKE_VARIABLES = tuple(
    Variable(name, f"the Snowflake {field}", secret=field == "password")
    for field, name in SNOWFLAKE_FIELDS.items()
)
WAREHOUSE_VARIABLES = {"duckdb": DUCKDB_VARIABLES, "snowflake": SNOWFLAKE_VARIABLES}
PLATFORM_VARIABLES = (
    Variable(
        "DATAPLAT_STATE_DIR",
        "the platform's working files: Sling's home folder (its env.yaml, state database, driver caches) and the "
        "DuckDB CLI wrapper; nothing the platform runs writes into $HOME",
        local_default="{data_home}/dataplat/state",
    ),
    Variable(
        "ARTIFACTS_URL",
        "where trained models and rendered reports are kept (`artifacts`): a folder or an fsspec URL (s3://...)",
        local_default="{data_home}/dataplat/artifacts",
    ),
    Variable(
        "WAREHOUSE_LOCK_TIMEOUT_S",
        "seconds a DuckDB connection waits for another process's lock on the file (default 30)",
        required=False,
    ),
    Variable(
        "ALERT_WEBHOOK_URL",
        "run-failure and failed-check alerts (Slack-compatible JSON); the alert sensors run where it is set",
        required=False,
    ),
)


def core_variables(warehouse: str) -> tuple[Variable, ...]:
    """The variables core reads in an environment on `warehouse`."""
    return WAREHOUSE_VARIABLES[warehouse] + PLATFORM_VARIABLES


def _data_home(environ: Mapping[str, str]) -> str:
    return environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment is to the platform: its warehouse, and the defaults of its variables (a value
    may use `{data_home}`). Which variables a code location requires follows from the warehouse and the
    resources it is given (`resources.build_resources`)."""

    name: str
    warehouse: Literal["duckdb", "snowflake"]
    defaults: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def read(folder: Path) -> EnvironmentSpec:
        """`<folder>/platform.yaml` of an environment folder (`deployments/<name>/`): `warehouse` and `defaults`;
        the environment's name is the folder's."""
        path = Path(folder) / PLATFORM_FILE
        if not path.is_file():
            raise InvalidEnvironment(
                f"{path}: missing. An environment other than local declares its warehouse and variable "
                "defaults there (docs/environments.md, 'Adding an environment')"
            )
        declared = yaml.safe_load(path.read_text()) or {}
        unknown = sorted(set(declared) - {"warehouse", "defaults"}) if isinstance(declared, dict) else ["?"]
        warehouse = declared.get("warehouse") if isinstance(declared, dict) else None
        defaults = declared.get("defaults") or {} if isinstance(declared, dict) else {}
        problems = [f"unknown keys {', '.join(unknown)}"] if unknown else []
        if warehouse not in WAREHOUSE_VARIABLES:
            problems.append(f"warehouse must be one of {', '.join(WAREHOUSE_VARIABLES)}, not {warehouse!r}")
        # Which variables exist depends on the packages a location installs (`variables.provided`): a default
        # is checked here for its shape and secrecy, against every location's variables by a deployment test.
        known_secrets = secret_names([*SNOWFLAKE_VARIABLES, *provided_variables()])
        if not isinstance(defaults, dict):
            problems.append("defaults must be a mapping of variable names to values")
        elif misnamed := sorted(str(k) for k in defaults if not VARIABLE_NAME.match(str(k))):
            problems.append(f"not variable names: {', '.join(misnamed)}")
        elif secret := sorted(set(defaults) & known_secrets):
            problems.append(f"a secret has no default: {', '.join(secret)}")
        if not _NAME.match(Path(folder).name):
            problems.append(f"the folder name {Path(folder).name!r} is not an environment name")
        if problems:
            raise InvalidEnvironment(f"{path}: " + "; ".join(problems))
        return EnvironmentSpec(Path(folder).name, warehouse, {k: str(v) for k, v in defaults.items()})

    def default(self, variable: Variable) -> str | None:
        """The variable's default here (may use `{data_home}`): the spec's, else locally its `local_default`."""
        return self.defaults.get(variable.name, variable.local_default if self.name == LOCAL else None)


# Built in: what a fresh clone, the tests and the demo run on, with nothing declared (each variable's
# `local_default` applies on top: only what the sandbox generates, its port, password and token, must be given).
LOCAL_SPEC = EnvironmentSpec(LOCAL, "duckdb")


@dataclass(frozen=True)
class PlatformSettings:
    """Every variable a code location needs, validated at once. `value()` for non-secrets only."""

    env: str
    warehouse: str
    values: Mapping[str, str]
    from_environment: frozenset[str]
    secrets: frozenset[str] = frozenset()

    def value(self, name: str) -> str:
        if name in self.secrets:
            raise KeyError(f"{name} is a secret: pass dg.EnvVar({name!r}) instead of its value")
        return self.values[name]

    def is_from_environment(self, name: str) -> bool:
        return name in self.from_environment

    def resource_value(self, name: str, kind: type[str] | type[int] = str) -> Any:
        """What a resource's field is given for variable `name`: `dg.EnvVar(name)` for a secret or a value from
        the environment (read again by the run worker, never stored), the literal value for a default. For an
        int field (`kind=int`): `dg.EnvVar.int(name)`, or the default as a number."""
        import dagster as dg

        if name in self.secrets or name in self.from_environment:
            return dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)
        return kind(self.values[name])

    @property
    def state_dir(self) -> Path:
        return self.folder("DATAPLAT_STATE_DIR")

    def folder(self, name: str, *, parent_of: bool = False) -> Path:
        """The folder variable `name` names (or, `parent_of`, the folder of the file it names), created if
        missing. Fails naming the variable and its value when it cannot be created or written."""
        path = Path(self.values[name]).expanduser().resolve()
        folder = path.parent if parent_of else path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"not writable by user id {os.geteuid()}")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InvalidEnvironment(
                f"{name}={self.values[name]}: the folder {folder} cannot be created or written ({reason}). "
                f"Point {name} at a folder this user can write, or create it with the right owner."
            ) from exc
        return path


def built_in_spec(environ: Mapping[str, str] | None = None) -> EnvironmentSpec:
    """Local's spec, which PLATFORM_ENV must then name: any other environment is known only to its deployment,
    which passes its spec."""
    env = current_environment(environ)
    if env != LOCAL:
        raise InvalidEnvironment(
            f"PLATFORM_ENV={env}: only local is built in; the {env} environment is declared by its deployment "
            f"(deployments/{env}/{PLATFORM_FILE}), so load its code location (code_location) to run there"
        )
    return LOCAL_SPEC


def load_settings(
    spec: EnvironmentSpec | None = None,
    environ: Mapping[str, str] | None = None,
    variables: Sequence[Variable] | None = None,
) -> PlatformSettings:
    """The values of `variables` (default: core's) in `spec`'s environment (default: `built_in_spec()`). A value comes
    from the environment, else the spec's default, else (locally) the variable's `local_default`; a required
    variable without one is missing, and every missing one is named in one message."""
    environ = os.environ if environ is None else environ
    spec = spec or built_in_spec(environ)
    variables = unique(core_variables(spec.warehouse) if variables is None else variables)
    values: dict[str, str] = {}
    from_env: set[str] = set()
    missing: list[str] = []
    for var in variables:
        default = spec.default(var)
        if environ.get(var.name, "").strip():
            values[var.name] = environ[var.name]
            from_env.add(var.name)
        elif default is not None:
            values[var.name] = default.format(data_home=_data_home(environ))
        elif var.required:
            missing.append(var.name)
    if missing:
        raise MissingEnvironmentVariables(spec.name, missing)
    return PlatformSettings(spec.name, spec.warehouse, values, frozenset(from_env), secret_names(variables))
