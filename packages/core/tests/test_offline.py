"""Sling and its DuckDB CLI work with no network at all: proven inside a loopback-only network namespace."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dataplat_core.binaries import configure_offline_binaries, duckdb_cli_wrapper, sling_binary

HERE = Path(__file__).parent


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


needs_netns = pytest.mark.skipif(not _can_unshare(), reason="needs root (or user namespaces) for unshare -n")


def _offline(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run cmd in a new network namespace whose only interface is loopback."""
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", script, "offline", *cmd],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def test_sling_binary_comes_from_the_wheel():
    out = subprocess.run([str(sling_binary()), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "1.4.11" in out.stdout + out.stderr


def test_configuring_binaries_respects_what_a_user_exported(monkeypatch):
    monkeypatch.setenv("SLING_BINARY", "/opt/custom/sling")
    monkeypatch.delenv("DUCKDB_PATH", raising=False)
    configure_offline_binaries()
    assert os.environ["SLING_BINARY"] == "/opt/custom/sling"
    assert os.environ["DUCKDB_PATH"] == str(duckdb_cli_wrapper())


@needs_netns
def test_network_namespace_really_is_offline():
    # Guards the two tests below: if this could reach the registry, they would prove nothing.
    probe = "import socket; socket.create_connection(('pypi.org', 443), timeout=5)"
    assert _offline([sys.executable, "-c", probe]).returncode != 0


@needs_netns
def test_duckdb_cli_loads_extensions_offline(tmp_path):
    sql = "select json_extract('{\"a\": 7}', '$.a')::int as a; load httpfs; load parquet;"
    out = _offline([str(duckdb_cli_wrapper()), "-csv", str(tmp_path / "x.duckdb"), "-c", sql])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "7"


@needs_netns
def test_sling_replicates_postgres_into_duckdb_offline(server_tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SLING_BINARY", "DUCKDB_PATH")}
    out = _offline([sys.executable, str(HERE / "offline_replication.py"), str(server_tmp_path)], env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["success"] is True
    assert report["source"] == report["target"]
    assert report["target"]["orders"] > 0
    assert report["sling_binary"] == str(sling_binary())
