import pytest


@pytest.fixture
def platform_env(sandbox_env, tmp_path, monkeypatch):
    env = {**sandbox_env, "PLATFORM_ENV": "local", "WAREHOUSE_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env
