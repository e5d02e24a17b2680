"""One session per package and per deployment, each in its own venv holding only that package, what it
declares and its test tools (installed from the package's own uv.lock).

    uv run --locked nox          # every default session: tests, definitions checks, lint
    uv run --locked nox -l       # list them
    uv run --locked nox -s "tests(core)"
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
UV = os.environ.get("UV", "uv")  # set by `uv run`; works even where uv's folder is not on PATH
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")  # uv cannot fetch interpreters here: use 3.11

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"

PACKAGES = {
    "core": "packages/core",
    "sandbox": "packages/sandbox",
    "snowflake_ingestion": "packages/snowflake_ingestion",
    "api_sources": "packages/api_sources",
    "ml_training": "packages/ml_training",
    "reporting": "packages/reporting",
}
DEPLOYMENTS = {
    "local-ingestion": "deployments/local/ingestion",
    "local-analytics": "deployments/local/analytics",
}
PYTHON = "3.11"

# Placeholders that satisfy the local environment's required variables for loading definitions: loading
# never connects to anything, so these values are never used to reach a server.
DEFS_CHECK_ENV = {
    "PLATFORM_ENV": "local",
    "SOURCE_PG_PORT": "5432",
    "SOURCE_PG_PASSWORD": "placeholder",
    "PAYMENTS_API_URL": "http://127.0.0.1:9",
    "PAYMENTS_API_TOKEN": "placeholder",
    "LANDING_URL": "/nonexistent/landing",
}


def _sync(session: nox.Session, project: str) -> None:
    """Install exactly the project's lock (the project, its dependencies, its dev group) into this venv."""
    session.run_install(
        UV,
        "sync",
        "--locked",
        "--project",
        str(ROOT / project),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


def _check_imports(session: nox.Session, project: str) -> None:
    session.run("python", str(ROOT / "tools" / "check_imports.py"), str(ROOT / project))


@nox.session(python=PYTHON, tags=["tests"])
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    project = PACKAGES[package]
    _sync(session, project)
    _check_imports(session, project)
    session.chdir(ROOT / project)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(name="deployment", python=PYTHON, tags=["tests"])
@nox.parametrize("deployment", list(DEPLOYMENTS), ids=list(DEPLOYMENTS))
def deployment(session: nox.Session, deployment: str) -> None:
    """Validate the code location's definitions with `dg check defs`, then run its tests."""
    project = DEPLOYMENTS[deployment]
    _sync(session, project)
    _check_imports(session, project)
    session.chdir(ROOT / project)
    session.run("dg", "check", "defs", env=DEFS_CHECK_ENV)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON, tags=["tests"])
def lint(session: nox.Session) -> None:
    _sync(session, ".")  # the ruff version pinned in the root uv.lock
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
