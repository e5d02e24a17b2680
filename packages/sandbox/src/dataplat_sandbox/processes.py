"""For tests that run servers (code servers, the webserver, the daemon) as processes: wait for a terminal state,
and stop each process with everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T], timeout: float, interval: float = 1.0) -> T:
    """`probe()`'s first truthy result; AssertionError naming `what` after `timeout` seconds. The probe should
    return something only for a terminal state (a finished tick or run), never for a transient one."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_groups(processes: list[subprocess.Popen], grace: float = 15) -> None:
    """SIGTERM to each process's group (start them with `start_new_session=True`), SIGKILL to any group still
    alive after `grace` seconds: a server that exited may leave its children (a code server's `dagster api
    grpc`, run workers) behind, and they are in its group."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group's other members, also when the leader exited
        proc.wait()
