import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

from dataplat_sandbox.cli import main
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.sandbox import ENV_KEYS, Sandbox


def _check_env(env: dict[str, str]) -> None:
    assert tuple(env) == ENV_KEYS
    with psycopg.connect(
        host=env["SOURCE_PG_HOST"], port=int(env["SOURCE_PG_PORT"]), dbname=env["SOURCE_PG_DATABASE"],
        user=env["SOURCE_PG_USER"], password=env["SOURCE_PG_PASSWORD"], sslmode="disable",
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] > 0
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
    assert Path(env["LANDING_URL"]).is_absolute()
    assert any((Path(env["LANDING_URL"]) / "sales").glob("*.csv"))
    req = urllib.request.Request(
        env["PAYMENTS_API_URL"] + "/payments?limit=1",
        headers={"Authorization": f"Bearer {env['PAYMENTS_API_TOKEN']}"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
    shipments = urllib.request.Request(
        env["SHIPMENTS_API_URL"] + "/shipments?per_page=1", headers={"X-Api-Key": env["SHIPMENTS_API_KEY"]}
    )
    with urllib.request.urlopen(shipments, timeout=5) as resp:
        assert resp.status == 200 and json.loads(resp.read())["results"]


def test_fixture_env(sandbox_env):
    _check_env(sandbox_env)


def test_sandbox_all_together(server_tmp_path):
    config = SandboxConfig(orders=500, days=5)
    with Sandbox(server_tmp_path / "state", config, api_token="t0ken") as sb:
        env = sb.env()
        _check_env(env)
        assert env["PAYMENTS_API_TOKEN"] == "t0ken" and env["SOURCE_PG_USER"] == "replicator"
        assert len(list((server_tmp_path / "state" / "landing" / "sales").iterdir())) == 5
    assert not sb.postgres.is_running()


def test_cli_up_writes_env_file_and_stops_on_sigterm(server_tmp_path):
    env_file = server_tmp_path / "sandbox.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dataplat_sandbox.cli", "up", "--state-dir", str(server_tmp_path / "st"),
         "--orders", "300", "--days", "3", "--env-file", str(env_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert env_file.exists(), proc.stdout.read() if proc.poll() is not None else "timeout"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        _check_env(env)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Payments API" in out and "Shipments API" in out and "Stopping" in out
    pid = int((server_tmp_path / "st" / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0]) if (
        server_tmp_path / "st" / "postgres" / "pgdata" / "postmaster.pid").exists() else None  # fmt: skip
    assert pid is None  # pg_ctl stop removes the pid file


def test_cli_landing_and_sales_csv(tmp_path, capsys):
    assert main(["landing", "--out", str(tmp_path / "l"), "--orders", "400", "--days", "4",
                 "--defect", "2026-01-03=empty_file"]) == 0  # fmt: skip
    files = sorted((tmp_path / "l" / "sales").iterdir())
    assert [f.name for f in files] == [f"2026-01-0{i}.csv" for i in range(1, 5)]
    assert files[2].stat().st_size == 0 and files[1].stat().st_size > 0
    assert main(["sales-csv", "--out", str(tmp_path / "big.csv"), "--orders", "1000", "--rows", "100"]) == 0
    assert len((tmp_path / "big.csv").read_text().splitlines()) == 101
    assert "wrote 100 rows" in capsys.readouterr().out
    assert os.path.exists(tmp_path / "big.csv")
