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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

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


# Variable names, in one place. Secrets are passed to resources as dg.EnvVar so that their values are read
# by the run worker and never shown in the UI or written to the instance's storage.
SOURCE_PG = (
    "SOURCE_PG_HOST",
    "SOURCE_PG_PORT",
    "SOURCE_PG_DATABASE",
    "SOURCE_PG_USER",
    "SOURCE_PG_PASSWORD",
    "SOURCE_PG_SSLMODE",
)
PAYMENTS_API = ("PAYMENTS_API_URL", "PAYMENTS_API_TOKEN")
LANDING = ("LANDING_URL",)
DUCKDB_WAREHOUSE = ("WAREHOUSE_DUCKDB_PATH",)
# The folder for the platform's own working files (Sling's home folder, the DuckDB CLI wrapper): nothing the
# platform runs writes into the user's home folder instead.
STATE = ("DATAPLAT_STATE_DIR",)
STATE_DEFAULT = {"DATAPLAT_STATE_DIR": "{data_home}/dataplat/state"}
# Where trained models and rendered reports are kept (`artifacts.ArtifactStore`): a folder or an fsspec URL.
ARTIFACTS = ("ARTIFACTS_URL",)
SNOWFLAKE_WAREHOUSE = (
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_USER",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_DATABASE",
    "SNOWFLAKE_WAREHOUSE",
    "SNOWFLAKE_ROLE",
)
SECRET_VARS = frozenset({"SOURCE_PG_PASSWORD", "PAYMENTS_API_TOKEN", "SNOWFLAKE_PASSWORD"})

# Local runs on embedded defaults: only what the sandbox generates (its port, password, token) must be given.
# The warehouse default is absolute: every code location (each started in its own folder) must open one file.
_LOCAL_DEFAULTS = {
    "SOURCE_PG_HOST": "127.0.0.1",
    "SOURCE_PG_DATABASE": "shop",
    "SOURCE_PG_USER": "replicator",
    "SOURCE_PG_SSLMODE": "disable",
    "WAREHOUSE_DUCKDB_PATH": "{data_home}/dataplat/warehouse.duckdb",
    "ARTIFACTS_URL": "{data_home}/dataplat/artifacts",
    **STATE_DEFAULT,
}


def _data_home(environ: Mapping[str, str]) -> str:
    return environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")


WAREHOUSE_VARS = {"duckdb": DUCKDB_WAREHOUSE, "snowflake": SNOWFLAKE_WAREHOUSE}


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment is to the platform: its warehouse, and the defaults of its variables (a value
    may use `{data_home}`). The variables it requires follow from the warehouse."""

    name: str
    warehouse: Literal["duckdb", "snowflake"]
    defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        return SOURCE_PG + PAYMENTS_API + LANDING + WAREHOUSE_VARS[self.warehouse] + STATE + ARTIFACTS

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
        if warehouse not in WAREHOUSE_VARS:
            problems.append(f"warehouse must be one of {', '.join(WAREHOUSE_VARS)}, not {warehouse!r}")
        spec_vars = set(SOURCE_PG + PAYMENTS_API + LANDING + STATE + ARTIFACTS) | set(
            WAREHOUSE_VARS.get(warehouse, ())
        )
        if not isinstance(defaults, dict):
            problems.append("defaults must be a mapping of variable names to values")
        elif undeclared := sorted(set(defaults) - spec_vars):
            problems.append(f"defaults for variables the platform does not read: {', '.join(undeclared)}")
        elif secret := sorted(set(defaults) & SECRET_VARS):
            problems.append(f"a secret has no default: {', '.join(secret)}")
        if not _NAME.match(Path(folder).name):
            problems.append(f"the folder name {Path(folder).name!r} is not an environment name")
        if problems:
            raise InvalidEnvironment(f"{path}: " + "; ".join(problems))
        return EnvironmentSpec(Path(folder).name, warehouse, {k: str(v) for k, v in defaults.items()})


# Built in: what a fresh clone, the tests and the demo run on, with nothing declared.
LOCAL_SPEC = EnvironmentSpec(LOCAL, "duckdb", _LOCAL_DEFAULTS)


@dataclass(frozen=True)
class PlatformSettings:
    """Every variable an environment needs, validated at once. `value()` for non-secrets only."""

    env: str
    warehouse: str
    values: Mapping[str, str]
    from_environment: frozenset[str]

    def value(self, name: str) -> str:
        if name in SECRET_VARS:
            raise KeyError(f"{name} is a secret: pass dg.EnvVar({name!r}) instead of its value")
        return self.values[name]

    def is_from_environment(self, name: str) -> bool:
        return name in self.from_environment

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


def load_settings(
    spec: EnvironmentSpec | None = None, environ: Mapping[str, str] | None = None
) -> PlatformSettings:
    """The settings of `spec`'s environment (default: local, which PLATFORM_ENV must then be: any other
    environment is known only to its deployment, which passes its spec)."""
    environ = os.environ if environ is None else environ
    if spec is None:
        env = current_environment(environ)
        if env != LOCAL:
            raise InvalidEnvironment(
                f"PLATFORM_ENV={env}: only local is built in; the {env} environment is declared by its deployment "
                f"(deployments/{env}/{PLATFORM_FILE}), so load its code location (code_location) to run there"
            )
        spec = LOCAL_SPEC
    values: dict[str, str] = {}
    from_env: set[str] = set()
    missing: list[str] = []
    for name in spec.required:
        if environ.get(name, "").strip():
            values[name] = environ[name]
            from_env.add(name)
        elif name in spec.defaults:
            values[name] = spec.defaults[name].format(data_home=_data_home(environ))
        else:
            missing.append(name)
    if missing:
        raise MissingEnvironmentVariables(spec.name, missing)
    return PlatformSettings(spec.name, spec.warehouse, values, frozenset(from_env))
