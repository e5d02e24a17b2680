"""A full disk under the warehouse file: the load fails naming the disk and the fix, publishes nothing, and
loads exactly once there is room again.

The disk is real: a 16 MiB tmpfs mounted in a mount namespace of the load's own process (`unshare`), so it
disappears with that process whatever happens to the test, and nothing of the machine's disks is filled.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

LOAD_ON_A_SMALL_DISK = """
import json, os, sys
from pathlib import Path
import dagster as dg
from files_support import failure_message, file_defs, partition_counts, run_range

disk, env, out = Path(sys.argv[1]), dict(os.environ), {}
with file_defs() as defs, dg.instance_for_test() as instance:
    out["first"] = run_range(defs, "2026-01-01", None, instance).success
    out["before"] = partition_counts(env)
    filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(filler, bytes(1 << 16)):
            pass
    except OSError as exc:
        out["filled"] = exc.strerror
    os.close(filler)
    failed = run_range(defs, "2026-01-02", None, instance)
    out["second"], out["message"] = failed.success, failure_message(failed)
    out["after_failure"] = partition_counts(env)
    os.remove(disk / "filler")
    out["rerun"] = run_range(defs, "2026-01-02", None, instance).success
    out["after_rerun"] = partition_counts(env)
print(json.dumps(out))
"""


def test_a_full_disk_fails_the_load_naming_the_disk_and_the_fix_and_publishes_nothing(
    platform_env, landing_folder, tmp_path
):
    disk = tmp_path / "disk"
    disk.mkdir()
    warehouse = disk / "warehouse.duckdb"
    env = {**os.environ, "WAREHOUSE_DUCKDB_PATH": str(warehouse), "PYTHONPATH": str(TESTS)}
    mount_then_load = 'mount -t tmpfs -o size=16m tmpfs "$0" && exec "$1" -c "$2" "$0"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount_then_load,
         str(disk), sys.executable, LOAD_ON_A_SMALL_DISK],
        capture_output=True, text=True, env=env, cwd=TESTS, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["first"] and out["filled"] == "No space left on device"
    assert not out["second"]
    assert f"the disk is full writing {warehouse}" in out["message"], out["message"]
    assert "MiB free on its disk). Free space on that disk, or point" in out["message"]
    assert "WAREHOUSE_DUCKDB_PATH: the warehouse file" in out["message"]
    assert out["after_failure"] == out["before"]  # nothing published, the loaded day intact
    assert out["rerun"]
    assert out["after_rerun"]["2026-01-01"] == out["before"]["2026-01-01"]
    assert out["after_rerun"]["2026-01-02"] > 0
    assert not warehouse.exists()  # the disk was the namespace's own: gone with it
