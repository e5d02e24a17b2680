"""Shared by the repository's own tooling (noxfile, scripts/, bench/, tools/): standard library only, since it
runs before any project venv exists."""

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `uv run` tells its children where uv is; fall back to PATH when run some other way.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"


def uv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a uv child process: each project runs in its own venv, so the caller's
    VIRTUAL_ENV is dropped (uv would warn about it), and uv never downloads an interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return {**env, "UV_PYTHON_DOWNLOADS": "never", **(extra or {})}


def placeholder_env(platform_env: str) -> dict[str, str]:
    """tools/placeholder.env for PLATFORM_ENV=platform_env: lets definitions load with no server behind them."""
    lines = (ROOT / "tools" / "placeholder.env").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {**values, "PLATFORM_ENV": platform_env}
