"""One session per package and per deployment, each in its own venv holding only that package, what it
declares and its test tools (installed from the package's own uv.lock).

    uv run --locked nox          # every default session: tests, definitions checks, lint
    uv run --locked nox -l       # list them
    uv run --locked nox -s "tests(core)"
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools.repo import ROOT, UV, allow_bytecode_cache, placeholder_env  # noqa: E402

os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")  # uv cannot fetch interpreters here: use 3.11
allow_bytecode_cache()  # test subprocesses import dagster once compiled, not from source every time

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


def _sync(session: nox.Session, project: str, *options: str) -> None:
    """Install exactly the project's lock (the project, its dependencies, its dev group) into this venv."""
    session.run_install(
        UV,
        "sync",
        "--locked",
        "--project",
        str(ROOT / project),
        *options,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


def _prepare(session: nox.Session, project: str) -> None:
    """The project's own venv, its imports checked against its declarations, cwd in the project."""
    _sync(session, project)
    session.run("python", str(ROOT / "tools" / "check_imports.py"), str(ROOT / project))
    session.chdir(ROOT / project)


@nox.session(python=PYTHON, tags=["tests"])
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    _prepare(session, PACKAGES[package])
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(name="deployment", python=PYTHON, tags=["tests"])
@nox.parametrize("deployment", list(DEPLOYMENTS), ids=list(DEPLOYMENTS))
def deployment(session: nox.Session, deployment: str) -> None:
    """Validate the code location's definitions with `dg check defs`, then run its tests."""
    _prepare(session, DEPLOYMENTS[deployment])
    session.run("dg", "check", "defs", env=placeholder_env("local"))
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON, tags=["tests"])
def lint(session: nox.Session) -> None:
    _sync(session, ".")  # the ruff version pinned in the root uv.lock
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", str(ROOT / "tools" / "scan_secrets.py"))  # no credential in any tracked file


@nox.session(python=PYTHON, tags=["tests"])
def release(session: nox.Session) -> None:
    """Build every package, publish it to a throwaway pypiserver on 127.0.0.1, install each from there."""
    _sync(session, ".")
    session.run("python", str(ROOT / "tools" / "internal_index.py"), "check")


@nox.session(python=PYTHON, default=False)
def publish(session: nox.Session) -> None:
    """Build every package and upload it: `nox -s publish -- http://127.0.0.1:8765/` (see docs/release.md)."""
    if not session.posargs:
        session.error("give the index's upload URL: nox -s publish -- URL")
    _sync(session, ".")
    session.run("python", str(ROOT / "tools" / "internal_index.py"), "publish", "--url", session.posargs[0])


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (issue #9), not a test: `nox -s bench` (1M and 5M rows, 3 runs, the test suite; long) or
    `nox -s bench -- --sizes 100000 --repeat 1 --only files api`; writes bench/results/, docs/benchmarks.md."""
    # bench/run.py is standard library only; each part runs in its own package's venv through uv.
    session.run("python", str(ROOT / "bench" / "run.py"), *session.posargs)


@nox.session(python=PYTHON, tags=["tests"])
def demo(session: nox.Session) -> None:
    """The README's demo, end to end and twice (the second run reuses the state), on a smaller sandbox."""
    _sync(session, ".")
    state = Path(session.create_tmp()) / "demo"
    for flags in (["--reset"], []):
        session.run("python", str(ROOT / "scripts" / "demo.py"), "--state-dir", str(state),
                    "--orders", "5000", "--days", "30", *flags)  # fmt: skip


@nox.session(python=PYTHON, tags=["tests"])
def ui(session: nox.Session) -> None:
    """`dg dev` serves both local code locations; headless Chromium finds them and the asset graph."""
    _sync(session, ".", "--group", "ui-test")
    session.run("pytest", "-q", str(ROOT / "tests" / "ui"), *session.posargs)
