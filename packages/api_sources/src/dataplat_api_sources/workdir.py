"""dlt's working folders: one per step attempt, under storage the platform owns, removed after the attempt and,
after a crash, by the next run.

dlt writes each load's extracted and normalized files (Parquet pages of API records) into its `pipelines_dir`. A
process that is SIGKILLed (OOM killer, a node drained, `kill -9`) runs no `finally`: its folder stays. So the
folders live in one root that every run of the component looks at (not the system temp folder, where no one
would ever look), and the first thing a run does is remove the folders whose owner is gone.

Where the root is (`working_root`, the one place that decides):

1. a persistent Dagster instance (`DAGSTER_HOME`: `dg dev`, the demo, staging, a prod run pod):
   `<instance storage>/dlt_working`, i.e. `$DAGSTER_HOME/storage/dlt_working` - the instance's local storage,
   where Dagster keeps its own per-run files;
2. an ephemeral instance (`execute_in_process()` without an instance, the runner without `DAGSTER_HOME`): its
   storage is a temp folder deleted with the process, and a crashed process's one is never seen again, so:
   `dlt_working` beside the DuckDB warehouse file (where reports and models go too);
3. neither (an ephemeral instance and Snowflake): `dlt_working` in the current directory.

Who owns a folder: the process holding an exclusive `flock` on `<name>.lock` beside it. The kernel releases the
lock when the process dies however it dies, so "lock free" means "owner gone": no PID files (PIDs are reused,
and a PID from another container or host means nothing), no age threshold (a long backfill is not stale). A
concurrent run of the same component, in this process or another, holds its own lock and keeps its folder.
`flock`, not `fcntl.lockf`: POSIX record locks are per process, so a sweep in the same process (the in-process
executor) would "acquire" a live folder's lock and delete it; `flock` locks belong to the open file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT_NAME = "dlt_working"
LOCK_SUFFIX = ".lock"


def working_root(instance: Any, warehouse: Any) -> Path:
    """The folder that holds every run's dlt working folder (see the module docstring for the order)."""
    if not instance.is_ephemeral:
        return Path(instance.storage_directory()) / ROOT_NAME
    database = getattr(warehouse, "database", None)
    if isinstance(database, str) and database and database != ":memory:" and not database.startswith("md:"):
        return Path(database).expanduser().resolve().parent / ROOT_NAME
    return Path.cwd() / ROOT_NAME


def folder_name(run_id: str, step_key: str, attempt: int) -> str:
    """One name per step attempt: two components in one run, or a retry of a step, never share a folder."""
    return f"{run_id}.{re.sub(r'[^A-Za-z0-9_-]', '_', step_key)}.{attempt}"


def _try_lock(path: Path, *, create: bool) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if another open file holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # A sweeper may have unlinked the file between our open and our flock: a lock on an unlinked file guards
    # nothing (the next opener creates a new file). Only a lock on the file that is still at `path` counts.
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    mine = os.fstat(fd)
    if current is None or (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
        os.close(fd)
        return None
    return fd


def remove_stale(root: Path) -> list[Path]:
    """Remove the working folders under `root` whose owning process is gone; returns the folders removed."""
    if not root.is_dir():
        return []
    removed = []
    for lock in sorted(root.glob(f"*{LOCK_SUFFIX}")):
        fd = _try_lock(lock, create=False)
        if fd is None:
            continue  # held: a live run's folder (or another sweeper is removing it right now)
        try:
            folder = lock.with_suffix("")
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            lock.unlink(missing_ok=True)  # last: while the lock file exists, the folder is accounted for
        finally:
            os.close(fd)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        # An owner creates its lock before its folder and a sweeper unlinks it after the folder, so a folder
        # without a lock file belongs to no one (a lock file removed by hand, a sweeper killed mid-rmtree).
        if not folder.with_name(folder.name + LOCK_SUFFIX).exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def owned_folder(root: Path, name: str) -> Iterator[Path]:
    """A fresh folder `root/name` (0700: it holds payment data) owned by this process until the block ends,
    then removed, success or error. If the process is killed, the lock dies with it and the next sweep removes it.
    """
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = root / f"{name}{LOCK_SUFFIX}"
    fd = None
    for _ in range(10):  # lost only to a sweeper that unlinked the fresh lock file in between; try again
        fd = _try_lock(lock, create=True)
        if fd is not None:
            break
    if fd is None:
        raise RuntimeError(f"could not lock {lock}: another process holds it")
    folder = root / name
    try:
        # A folder of this name can only be a dead attempt's whose lock file was lost: start clean.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700)
        yield folder
    finally:
        try:
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
