"""Processes a test run left behind, found by a marker in their environment.

The test suite gives every process it starts (and so every process those start: servers, code servers, run
workers, PostgreSQL) the variable `DATAPLAT_SUITE_RUN=<token>`. Environments are inherited, so after the
suite a process still carrying the token is one the suite started and did not stop, wherever it was
re-parented. Linux only (/proc); a process that was given a fresh environment escapes the search.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

VARIABLE = "DATAPLAT_SUITE_RUN"


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command[:300]}"


def carrying(token: str, variable: str = VARIABLE) -> list[Leftover]:
    """Live processes (zombies excluded) whose environment holds variable=token (a test that watches the
    processes it starts uses a variable of its own, so that the suite's marker stays on them too)."""
    marker = f"{variable}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # exited while we looked, or not ours
        found.append(Leftover(int(entry.name), command))
    return found


def settle_and_kill(token: str, grace: float = 30.0, variable: str = VARIABLE) -> list[Leftover]:
    """Processes still carrying `token` after `grace` seconds (the last ones may be shutting down); each is
    then killed so that the machine is clean, and returned for the report."""
    deadline = time.monotonic() + grace
    while (left := carrying(token, variable)) and time.monotonic() < deadline:
        time.sleep(1)
    for process in left:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
