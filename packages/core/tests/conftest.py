import pytest

# What the sandbox provides in the local environment (values are placeholders: nothing connects to them).
LOCAL_SOURCES = {
    "SOURCE_PG_PORT": "5433",
    "SOURCE_PG_PASSWORD": "pw",
    "PAYMENTS_API_URL": "http://127.0.0.1:1",
    "PAYMENTS_API_TOKEN": "tok",
    "LANDING_URL": "/tmp/landing",
}


@pytest.fixture
def local_env(monkeypatch, tmp_path):
    """The local environment's variables in os.environ, with a warehouse file under tmp_path."""
    env = {
        **LOCAL_SOURCES,
        "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "w" / "warehouse.duckdb"),
        "DATAPLAT_STATE_DIR": str(tmp_path / "state"),
        "ARTIFACTS_URL": str(tmp_path / "artifacts"),
    }
    monkeypatch.delenv("PLATFORM_ENV", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
