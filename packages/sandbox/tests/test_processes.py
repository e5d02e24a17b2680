"""The process helpers that tests running servers share (`dataplat_sandbox.processes`)."""

import os
import subprocess
import time

import pytest

from dataplat_sandbox.processes import stop_groups, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose: it runs nothing
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_wait_until_returns_the_first_truthy_result_and_names_what_it_waited_for():
    calls = iter([None, [], ["done"]])
    assert wait_until("the third call", lambda: next(calls), timeout=5, interval=0.01) == ["done"]
    started = time.monotonic()
    with pytest.raises(AssertionError, match="timed out after 0s waiting for nothing"):
        wait_until("nothing", lambda: None, timeout=0.2, interval=0.05)
    assert time.monotonic() - started < 5


def test_stop_groups_stops_the_leader_and_the_children_it_left_behind():
    # The leader ignores SIGTERM and its child outlives it unless the whole group is stopped.
    leader = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 300 & echo $!; wait"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(leader.stdout.readline())
    assert _alive(child)
    stop_groups([leader], grace=1)
    assert leader.returncode is not None
    assert wait_until("the leader's child to be gone", lambda: not _alive(child), timeout=10, interval=0.1)
