"""The one environment switch, and the settings each environment needs.

`PLATFORM_ENV` is read here and nowhere else, and only when definitions are built (never at import time),
so a code location imports fast and can be imported without any configuration at all.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PLATFORM_ENV_VAR = "PLATFORM_ENV"


class PlatformEnv(enum.StrEnum):
    LOCAL = "local"
    STAGING = "staging"
    PROD = "prod"


class MissingEnvironmentVariables(RuntimeError):
    """Raised once, naming every variable the environment lacks (not just the first)."""

    def __init__(self, env: PlatformEnv, missing: list[str]):
        self.env = env
        self.missing = sorted(missing)
        # The sandbox writes the local sources' variables; elsewhere they come from the deployment's secrets.
        hint = (
            "locally `dataplat-sandbox up --env-file .env` writes the source ones"
            if env == PlatformEnv.LOCAL
            else "from the deployment's secrets: the Helm values' env and secret references, docs/environments.md"
        )
        super().__init__(
            f"PLATFORM_ENV={env.value} is missing {len(self.missing)} required environment variable(s): "
            + ", ".join(self.missing)
            + f". Set them in the environment ({hint})."
        )


class InvalidEnvironment(ValueError):
    pass


def current_environment(environ: Mapping[str, str] | None = None) -> PlatformEnv:
    """The single place that reads PLATFORM_ENV. Unset means local: a fresh clone runs without setup."""
    raw = (os.environ if environ is None else environ).get(PLATFORM_ENV_VAR, PlatformEnv.LOCAL.value)
    try:
        return PlatformEnv(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(e.value for e in PlatformEnv)
        raise InvalidEnvironment(f"{PLATFORM_ENV_VAR}={raw!r} is not one of: {allowed}") from None


class EnvironmentMismatch(RuntimeError):
    """A deployment stated one environment and PLATFORM_ENV says another (or nothing, outside local)."""


def deployment_environment(
    stated: PlatformEnv | str, environ: Mapping[str, str] | None = None
) -> PlatformEnv:
    """The environment of a deployment that states `stated`, once PLATFORM_ENV agrees. Two switches that
    could disagree are made to agree: unset PLATFORM_ENV means local, so a prod pod without it would run
    against a DuckDB file inside the pod; this refuses to load instead."""
    stated = PlatformEnv(stated)
    raw = (os.environ if environ is None else environ).get(PLATFORM_ENV_VAR)
    if raw is None and stated != PlatformEnv.LOCAL:
        raise EnvironmentMismatch(
            f"this code location is the {stated.value} deployment, but {PLATFORM_ENV_VAR} is not set (unset means "
            f"local: it would run against a DuckDB file on this host). Set {PLATFORM_ENV_VAR}={stated.value} in "
            "its environment (the Helm values' env, docs/environments.md)."
        )
    actual = current_environment(environ)
    if actual != stated:
        raise EnvironmentMismatch(
            f"this code location is the {stated.value} deployment, but {PLATFORM_ENV_VAR}={raw}: one of them is "
            f"wrong. Set {PLATFORM_ENV_VAR}={stated.value} for this deployment, or run the {actual.value} one."
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
    **STATE_DEFAULT,
}


def _data_home(environ: Mapping[str, str]) -> str:
    return environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")


@dataclass(frozen=True)
class EnvironmentSpec:
    env: PlatformEnv
    warehouse: str  # "duckdb" or "snowflake"
    required: tuple[str, ...]
    defaults: Mapping[str, str] = field(default_factory=dict)


ENVIRONMENTS: dict[PlatformEnv, EnvironmentSpec] = {
    PlatformEnv.LOCAL: EnvironmentSpec(
        PlatformEnv.LOCAL,
        "duckdb",
        SOURCE_PG + PAYMENTS_API + LANDING + DUCKDB_WAREHOUSE + STATE,
        _LOCAL_DEFAULTS,
    ),
    # Staging is prod's topology on one machine: the same sources, a DuckDB warehouse at an explicit path.
    PlatformEnv.STAGING: EnvironmentSpec(
        PlatformEnv.STAGING,
        "duckdb",
        SOURCE_PG + PAYMENTS_API + LANDING + DUCKDB_WAREHOUSE + STATE,
        {"SOURCE_PG_SSLMODE": "disable", **STATE_DEFAULT},
    ),
    PlatformEnv.PROD: EnvironmentSpec(
        PlatformEnv.PROD,
        "snowflake",
        SOURCE_PG + PAYMENTS_API + LANDING + SNOWFLAKE_WAREHOUSE + STATE,
        {"SOURCE_PG_SSLMODE": "require", **STATE_DEFAULT},
    ),
}


@dataclass(frozen=True)
class PlatformSettings:
    """Every variable an environment needs, validated at once. `value()` for non-secrets only."""

    env: PlatformEnv
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
    env: PlatformEnv | None = None, environ: Mapping[str, str] | None = None
) -> PlatformSettings:
    environ = os.environ if environ is None else environ
    env = env or current_environment(environ)
    spec = ENVIRONMENTS[env]
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
        raise MissingEnvironmentVariables(env, missing)
    return PlatformSettings(env, spec.warehouse, values, frozenset(from_env))
