"""The whole platform end to end on one machine.

    uv run --locked python scripts/demo.py [--ui [--port P]] [--reset] [--orders N]

1. installs each local code location's venv from its lock (and the sandbox's), with uv;
2. starts the sandbox (PostgreSQL, landing folder, payments and shipments APIs) in its own venv;
3. materializes every asset of every local code location, upstream location first, and runs every
   asset check, printing progress;
4. prints a summary table (asset, rows, checks passed/failed, seconds) and exits non-zero on any failure;
5. with --ui, leaves `dg dev` serving the result (same Dagster instance) until Ctrl-C or SIGTERM, then stops
   every process it started and marks runs left queued or in flight canceled.

State lives in .dataplat/demo/ and is reused by the next run: the sandbox's PostgreSQL keeps its data, the
warehouse keeps its tables (Sling's incremental streams then move only what changed) and the Dagster
instance keeps the run history. `--reset` deletes that folder first.

Only the standard library is used here: this script runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from repo import ROOT, UV, uv_env  # noqa: E402

DEFAULT_STATE = ROOT / ".dataplat" / "demo"
# Upstream first: analytics assets depend on ingestion's tables across the location boundary.
LOCATIONS = [
    ("ingestion", "deployments/local/ingestion", "dataplat_local_ingestion.definitions"),
    ("analytics", "deployments/local/analytics", "dataplat_local_analytics.definitions"),
]
SANDBOX = "packages/sandbox"
SANDBOX_START = date(2026, 1, 1)  # the sandbox's first day (its default start_date)


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def uv(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([UV, *args], cwd=ROOT, env=uv_env(env), **kwargs)


def install() -> None:
    for project in [SANDBOX, *(path for _, path, _ in LOCATIONS)]:
        say(f"installing {project} (uv sync --locked)")
        uv("sync", "--locked", "--quiet", "--project", project, check=True)


def start_sandbox(state: Path, orders: int, days: int) -> tuple[subprocess.Popen, dict[str, str]]:
    env_file = state / "sandbox.env"
    env_file.unlink(missing_ok=True)
    say(f"starting the sandbox ({orders} orders): PostgreSQL, landing folder, payments and shipments APIs")
    proc = subprocess.Popen(
        [
            UV,
            "run",
            "--locked",
            "--quiet",
            "--project",
            SANDBOX,
            "dataplat-sandbox",
            "up",
            "--state-dir",
            str(state / "sandbox"),
            "--env-file",
            str(env_file),
            "--orders",
            str(orders),
            "--days",
            str(days),  # the landing folder holds exactly the days the demo loads
        ],
        cwd=ROOT,
        env=uv_env(),
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not env_file.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the sandbox exited with code {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            stop(proc)
            raise SystemExit("the sandbox did not become ready within 10 minutes")
        time.sleep(0.2)
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return proc, env


def stop(proc: subprocess.Popen | None, grace: float = 30, *, terminate: bool = True) -> None:
    """SIGTERM to the process's group (unless sent already: `terminate=False`; a second one could cut its
    cleanup short), SIGKILL to whatever of the group is left after `grace` seconds (a server that exited may
    leave children behind: they are in its group)."""
    if proc is None:
        return
    if terminate:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def platform_env(state: Path, sandbox_env: dict[str, str]) -> dict[str, str]:
    dagster_home = state / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    # One writer at a time on the DuckDB warehouse (pool "warehouse"), also for runs launched from the UI.
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n"
    )
    return {
        **sandbox_env,
        "PLATFORM_ENV": "local",
        "WAREHOUSE_DUCKDB_PATH": str(state / "warehouse.duckdb"),
        "DATAPLAT_STATE_DIR": str(state / "platform"),
        "ARTIFACTS_URL": str(state / "artifacts"),
        "DAGSTER_HOME": str(dagster_home),
    }


def materialize(state: Path, env: dict[str, str], days: int) -> list[dict]:
    # Daily-partitioned assets load the sandbox's dates, each partitioned group as one backfill run.
    first, last = SANDBOX_START, SANDBOX_START + timedelta(days=days - 1)
    outcomes: list[dict] = []
    for name, path, module in LOCATIONS:
        report = state / f"{name}.json"
        report.unlink(missing_ok=True)
        say(f"materializing every asset of the '{name}' code location and running its checks")
        # The location's venv was synced with --locked by install(): its script directly, not `uv run` (which
        # checks the lock again, a second per location).
        run = subprocess.run(
            [
                str(ROOT / path / ".venv" / "bin" / "dataplat-materialize"),
                "--module",
                module,
                "--location",
                name,
                "--report",
                str(report),
                "--partitions",
                first.isoformat(),
                last.isoformat(),
            ],
            cwd=ROOT,
            env=uv_env(env),
        )
        if not report.exists():
            outcomes.append(
                {
                    "asset": f"<{name} did not load: exit {run.returncode}>",
                    "location": name,
                    "status": "failed",
                    "rows": None,
                    "seconds": 0,
                    "checks_passed": 0,
                    "checks_failed": 0,
                    "checks_warned": 0,
                }
            )
            continue
        outcomes += json.loads(report.read_text())
    return outcomes


def _step_seconds(outcomes: list[dict]) -> list[str]:
    """A step's seconds on the first of its assets only: one step (a Sling replication, a dlt source) loads
    several assets, and its time repeated on each row read as if every asset took that long."""
    seen: set[tuple[str, str]] = set()
    shown = []
    for o in outcomes:
        step = (o["location"], o.get("step", ""))
        if not step[1]:
            shown.append("")
        elif step in seen:
            shown.append('"')
        else:
            seen.add(step)
            shown.append(f"{o['seconds']:.2f}")
    return shown


def summary(outcomes: list[dict], elapsed: float) -> bool:
    header = (
        "location", "asset", "status", "rows moved", "table rows", "checks ok", "failed", "warned", "step seconds"
    )  # fmt: skip
    rows = [
        (
            o["location"],
            o["asset"],
            f"unchanged ({o['unchanged_partitions']} partitions)"
            if o["status"] == "unchanged" and o["unchanged_partitions"]
            else o["status"],
            "" if o["rows"] is None else f"{o['rows']:,}",
            "" if o.get("table_rows") is None else f"{o['table_rows']:,}",
            str(o["checks_passed"]),
            str(o["checks_failed"]),
            str(o["checks_warned"]),
            seconds,
        )
        for o, seconds in zip(outcomes, _step_seconds(outcomes), strict=True)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    print('(a step that loads several assets shows its seconds on the first of them; " is the same step)')
    # A failed check of severity WARN (e.g. freshness: the sandbox's data is dated early 2026 on purpose)
    # is shown but does not fail the demo; a failed ERROR check or a failed asset does.
    # "unchanged": what the asset would load is loaded already (e.g. a landing file loaded by an earlier run).
    # "skipped": its automation condition is false (e.g. no upstream's data changed), as the daemon would see it.
    failed = [
        o["asset"]
        for o in outcomes
        if not (o["status"] in ("materialized", "unchanged", "skipped") and o["checks_failed"] == 0)
    ]
    ok = bool(outcomes) and not failed
    total = {k: sum(o[k] for o in outcomes) for k in ("checks_passed", "checks_failed", "checks_warned")}
    print()
    for o in outcomes:
        if o["status"] == "skipped" or o.get("reason"):
            print(f"{o['status']} {o['asset']}: {o['reason']}")
    for o in outcomes:
        for check, why in o.get("check_reasons", {}).items():
            kind = "warned" if check in o.get("warned_checks", []) else "FAILED"
            print(f"check {kind} {o['asset']} {check}: {why}")
    if any(check == "freshness" for o in outcomes for check in o.get("warned_checks", [])):
        print(
            f"(freshness warns by design here: the sandbox's data is dated from {SANDBOX_START}, not up to today)"
        )
    for o in outcomes:
        for name, path in o.get("files", {}).items():
            print(f"{o['asset']} {name}: {path}")
    print(
        f"{len(outcomes)} assets, {total['checks_passed']} checks passed, {total['checks_failed']} failed, "
        f"{total['checks_warned']} warned, in {elapsed:.1f}s: "
        + ("OK" if ok else "FAILED: " + ", ".join(failed))
    )
    return ok


class PortInUse(SystemExit):
    pass


def require_free_port(port: int) -> None:
    """Refuse at once, before minutes of loading, a UI port another process listens on: `dg dev` would fail
    only after the demo, with the webserver's traceback among the daemon's and code servers' output."""
    with socket.socket() as probe:
        probe.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # as the webserver binds: TIME_WAIT is free
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(
                f"demo: port {port} on 127.0.0.1 is in use ({exc.strerror}){_holder(port)}: stop that process "
                f"or choose another port with --port (e.g. --port {port + 1})."
            ) from None


def _holder(port: int) -> str:
    """`, held by PID n (command)` when the system lets this user see it, else nothing."""
    try:
        import psutil

        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return f", held by PID {conn.pid} ({' '.join(' '.join(psutil.Process(conn.pid).cmdline()).split())[:120]})"
    except Exception:  # the holder is a hint; not being allowed to see it must not hide the message
        pass
    return ""


def serve_ui(env: dict[str, str], port: int) -> subprocess.Popen:
    """`dg dev` (webserver, daemon, a code server per location) in its own process group: `shutdown` stops
    the whole group (`dg dev` alone did not stop its children within minutes after Ctrl-C)."""
    say(f"serving the Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    return subprocess.Popen(
        [UV, "run", "--locked", "dg", "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=uv_env(env),
        start_new_session=True,  # Ctrl-C reaches this script only; it stops the group in order
    )


def shutdown(
    ui: subprocess.Popen | None, sandbox: subprocess.Popen | None, env: dict[str, str] | None
) -> None:
    """Stop everything the demo started within about 15 s: SIGTERM to the UI's and the sandbox's groups at
    once; once the UI's daemon is gone, runs it left queued or in flight are marked canceled (so that the next
    start is clean) while the sandbox finishes stopping its PostgreSQL."""
    for proc in (ui, sandbox):
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    if ui is not None:
        stop(ui, grace=5, terminate=False)
    cancel = cancel_unfinished_runs(env) if ui is not None and env is not None else None
    stop(
        sandbox, grace=20, terminate=False
    )  # its PostgreSQL runs in a session of its own: the sandbox must stop it
    if cancel is not None:
        cancel.wait()


def cancel_unfinished_runs(env: dict[str, str]) -> subprocess.Popen:
    """Mark runs the stopped daemon left queued or in flight as canceled (in the upstream location's venv,
    which has the runner)."""
    _, path, _ = LOCATIONS[0]
    python = ROOT / path / ".venv" / "bin" / "python"
    return subprocess.Popen(
        [str(python), "-m", "dataplat_core.runner", "--cancel-unfinished", "the demo's UI was stopped"],
        cwd=ROOT,
        env=uv_env(env),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the platform end to end on this machine.")
    parser.add_argument("--ui", action="store_true", help="leave the Dagster UI serving the result")
    parser.add_argument("--port", type=int, default=3000, help="the UI's port with --ui (default 3000)")
    parser.add_argument("--reset", action="store_true", help="delete the demo's state first")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help=f"default {DEFAULT_STATE}")
    parser.add_argument("--orders", type=int, default=20_000, help="sandbox size (default 20000)")
    parser.add_argument(
        "--days", type=int, default=90, help="days of sandbox data from 2026-01-01 (default 90)"
    )
    args = parser.parse_args(argv)
    # A SIGTERM (CI timeout, `kill`) must still stop the sandbox: turn it into a normal exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    if args.ui:
        require_free_port(args.port)
    state = args.state_dir.resolve()
    if args.reset and state.exists():
        say(f"deleting {state}")
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    install()
    sandbox = ui = env = None
    try:
        sandbox, sandbox_env = start_sandbox(state, args.orders, args.days)
        env = platform_env(state, sandbox_env)
        ok = summary(materialize(state, env, args.days), time.monotonic() - started)
        if args.ui:
            ui = serve_ui(env, args.port)
            try:
                ui.wait()
            except (KeyboardInterrupt, SystemExit):
                pass  # Ctrl-C or SIGTERM: the normal way to leave the UI
    finally:
        # A second Ctrl-C must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if ui is not None:
            say("stopping the Dagster UI, its daemon and code servers, and the sandbox")
        shutdown(ui, sandbox, env)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
