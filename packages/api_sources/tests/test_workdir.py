"""dlt's working folders: where the root is, and which folders a sweep removes - a killed owner's, never a live
one's, whether the live owner is another process or this one."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from dataplat_api_sources.workdir import folder_name, owned_folder, remove_stale, working_root

OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dataplat_api_sources.workdir import owned_folder

    root, name, ready, release = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    with owned_folder(root, name) as folder:
        (folder / "page.parquet").write_bytes(b"payments")
        ready.touch()
        while not release.exists():  # held until the test releases (or kills) it
            time.sleep(0.02)
    """
)


def _owner(root: Path, name: str, tmp_path: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(root), name, str(tmp_path / f"ready-{name}"),
         str(tmp_path / f"release-{name}")],
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / f"ready-{name}").exists():
        assert child.poll() is None, f"owner {name} exited with {child.returncode}"
        assert time.monotonic() < deadline, f"owner {name} never took its folder"
        time.sleep(0.02)
    return child


def test_sweep_removes_a_killed_owners_folder_and_keeps_a_live_ones(tmp_path):
    root = tmp_path / "dlt_working"
    live, killed = _owner(root, "run-a.step.0", tmp_path), _owner(root, "run-b.step.0", tmp_path)
    try:
        os.killpg(killed.pid, signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
        assert (root / "run-b.step.0" / "page.parquet").exists()  # no finally ran: the folder stays

        assert remove_stale(root) == [root / "run-b.step.0"]
        assert not (root / "run-b.step.0").exists() and not (root / "run-b.step.0.lock").exists()
        assert (root / "run-a.step.0" / "page.parquet").exists()  # a concurrent live run keeps its folder
        assert remove_stale(root) == []
    finally:
        (tmp_path / "release-run-a.step.0").touch()
        assert live.wait(timeout=30) == 0
    # The live owner removed its own folder and lock when it finished.
    assert sorted(root.iterdir()) == []


def test_sweep_in_the_owners_own_process_keeps_the_folder(tmp_path):
    """The in-process executor runs two components' steps in one process: flock (per open file), not POSIX
    record locks (per process), so this process's sweep sees its own live folder as taken."""
    root = tmp_path / "dlt_working"
    with owned_folder(root, "run-a.step.0") as folder:
        (folder / "x").write_text("x")
        assert remove_stale(root) == []
        assert (folder / "x").exists()
    assert sorted(root.iterdir()) == []


def test_folder_is_private_and_removed_after_an_error(tmp_path):
    root = tmp_path / "dlt_working"
    with pytest.raises(RuntimeError, match="load failed"):
        with owned_folder(root, "run-a.step.0") as folder:
            assert folder.stat().st_mode & 0o777 == 0o700  # it holds payment data
            raise RuntimeError("load failed")
    assert sorted(root.iterdir()) == []


def test_sweep_removes_a_folder_whose_lock_file_is_gone(tmp_path):
    root = tmp_path / "dlt_working"
    (root / "run-a.step.0" / "pipeline").mkdir(parents=True)
    (root / "run-b.step.0.lock").touch()  # an owner killed between removing its folder and its lock
    assert remove_stale(root) == [root / "run-a.step.0"]
    assert sorted(root.iterdir()) == []


def test_folder_name_is_one_per_step_attempt():
    assert folder_name("0a1b", "dlt_payments_api", 2) == "0a1b.dlt_payments_api.2"
    assert folder_name("0a1b", "graph.op[key]", 0) == "0a1b.graph_op_key_.0"


def test_working_root_follows_the_instance_else_the_warehouse_file(tmp_path, monkeypatch):
    duckdb_warehouse = SimpleNamespace(database=str(tmp_path / "wh" / "warehouse.duckdb"))
    snowflake = SimpleNamespace(account="xy12345", database="RAW")
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:  # persistent (DAGSTER_HOME)
        expected = tmp_path / "home" / "storage" / "dlt_working"
        assert Path(instance.storage_directory()) / "dlt_working" == expected
        assert working_root(instance, duckdb_warehouse) == expected
        assert working_root(instance, snowflake) == expected
    with dg.DagsterInstance.ephemeral() as instance:  # its storage dies with the process: not there
        assert working_root(instance, duckdb_warehouse) == tmp_path / "wh" / "dlt_working"
        monkeypatch.chdir(tmp_path)
        assert working_root(instance, snowflake) == tmp_path / "dlt_working"
