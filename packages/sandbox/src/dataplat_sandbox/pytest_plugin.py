"""pytest fixtures that start the real sandbox sources (registered through the ``pytest11`` entry point).

Heavy imports happen inside the fixtures so merely installing this package keeps pytest start-up fast.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sandbox_config():
    """A small config (2,000 orders over 14 days) that keeps test suites fast."""
    from dataplat_sandbox.config import SandboxConfig

    return SandboxConfig(seed=7, orders=2_000, days=14)


@pytest.fixture(scope="session")
def server_tmp_path_factory():
    """Makes folders for a PostgreSQL data directory. As root the server runs as an unprivileged user who must
    traverse every parent folder; pytest's own base folder (/tmp/pytest-of-root) is reset to 0700 whenever
    another pytest process starts, so these folders live in a separate, traversable tree instead."""
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="dataplat-tests-"))
    base.chmod(0o755)
    counter = iter(range(1_000_000))

    def make(name: str) -> Path:
        path = base / f"{name}{next(counter)}"
        path.mkdir()
        return path

    yield make
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def server_tmp_path(server_tmp_path_factory):
    """A fresh folder for one test's PostgreSQL data directory (see `server_tmp_path_factory`)."""
    return server_tmp_path_factory("pg")


@pytest.fixture(scope="session")
def sandbox_postgres(sandbox_config, server_tmp_path_factory):
    """A running, loaded PostgreSQL shared by the session (tests that mutate it must tolerate each other)."""
    from dataplat_sandbox.postgres import SandboxPostgres

    pg = SandboxPostgres(server_tmp_path_factory("sandbox-pg"))
    pg.start()
    pg.load(sandbox_config)
    yield pg
    pg.stop()


@pytest.fixture
def landing_folder(sandbox_config, tmp_path):
    """A fresh landing root with clean ``sales/YYYY-MM-DD.csv`` files for every day of the config."""
    from dataplat_sandbox.landing import write_landing

    root = tmp_path / "landing"
    write_landing(root, sandbox_config)
    return root


@pytest.fixture
def payments_api(sandbox_config):
    """A fresh payments API server (no faults, no rate limit) for each test."""
    from dataplat_sandbox.payments_api import PaymentsApiServer

    with PaymentsApiServer(sandbox_config) as api:
        yield api


@pytest.fixture
def shipments_api(sandbox_config):
    """A fresh shipping carrier's API server (API key, page numbers; no faults) for each test."""
    from dataplat_sandbox.shipments_api import ShipmentsApiServer

    with ShipmentsApiServer(sandbox_config) as api:
        yield api


@pytest.fixture
def sandbox_env(sandbox_postgres, landing_folder, payments_api, shipments_api):
    """The same keys as ``Sandbox.env()``, pointing at the fixtures above."""
    from dataplat_sandbox.sandbox import make_env

    return make_env(sandbox_postgres, landing_folder, payments_api, shipments_api)


@pytest.fixture
def platform_env(sandbox_env, tmp_path, monkeypatch):
    """The whole local platform environment in ``os.environ``: the sandbox's sources, ``PLATFORM_ENV=local``
    and a DuckDB warehouse file, the platform's state folder and its artifacts (models, reports) in ``tmp_path``.
    Returns the variables it set."""
    env = {
        **sandbox_env,
        "PLATFORM_ENV": "local",
        "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DATAPLAT_STATE_DIR": str(tmp_path / "state"),
        "ARTIFACTS_URL": str(tmp_path / "artifacts"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium and its chromedriver, installed by `apt-get` when missing and root."""
    from dataplat_sandbox.browser import find_chromium, install_chromium

    found = find_chromium()
    if found is None:
        found, reason = install_chromium()
        if found is None:
            pytest.skip(f"browser test needs Chromium: {reason}")
    return found
