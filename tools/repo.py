"""Shared by the repository's own tooling (noxfile, scripts/, bench/, tools/): standard library only, since it
runs before any project venv exists."""

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `uv run` tells its children where uv is; fall back to PATH when run some other way.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"


# Set by nox (and `uv run`) for the caller's own venv: a child project must get its own venv instead.
CALLER_VENV_VARS = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON")
# Some machines export PYTHONDONTWRITEBYTECODE=1 (CI images, this workplace's): every interpreter the platform
# starts (code servers, run workers, test subprocesses) then recompiles dagster and its stack from source, about
# a second of CPU each time (docs/benchmarks.md). The project's venvs are its own: let Python cache bytecode.
NO_BYTECODE_VARS = ("PYTHONDONTWRITEBYTECODE",)


def allow_bytecode_cache() -> None:
    """For this process's children (the noxfile calls it; `uv_env` does the same for its child)."""
    for name in NO_BYTECODE_VARS:
        os.environ.pop(name, None)


def uv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a uv child process: each project syncs and runs in its own venv, never the
    caller's, and uv never downloads an interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in CALLER_VENV_VARS + NO_BYTECODE_VARS}
    return {**env, "UV_PYTHON_DOWNLOADS": "never", **(extra or {})}


def placeholder_env(platform_env: str) -> dict[str, str]:
    """tools/placeholder.env for PLATFORM_ENV=platform_env: lets definitions load with no server behind them."""
    lines = (ROOT / "tools" / "placeholder.env").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {**values, "PLATFORM_ENV": platform_env}
