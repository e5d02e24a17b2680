"""A watchdog that kills a Sling process that has stopped working, so the step fails (and is retried) instead
of hanging.

Sling 1.4.11 (the newest offline wheel) can deadlock with the DuckDB CLI it drives: seen under load, Sling
waits for the answer to a `count(*)` on its temp table while the CLI waits for its next command on stdin,
both idle, for as long as nobody kills them (a goroutine dump showed `WriteToDb -> GetCount ->
DuckDb.StreamContext -> ConsumeCsvReader` reading a pipe, and the CLI in `anon_pipe_read` on fd 0). Nothing
in Sling's output or exit status says so, and no Sling setting avoids it.

The watchdog watches the CPU time of every Sling process this process started and of their children (the
DuckDB CLI): a working load uses CPU in one of them. When the tree used less than `MIN_CPU_SHARE` of a core in
each poll for `stall_seconds`, it is killed (children first) and `killed` describes it; the component then
fails the step with a message that the retry policy treats as transient ("timed out"). Waits that use no CPU
for long (Snowflake's COPY of a very large file) need a longer `stall_seconds`: it is configuration.
Linux only (/proc); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MIN_CPU_SHARE = (
    0.05  # below 5% of a core over a poll counts as idle: a waiting Sling polls (~2%), a load uses >50%
)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    session: int
    name: str  # the command's name as the kernel keeps it (15 characters at most)
    cpu_seconds: float


def processes() -> dict[int, Proc]:
    """Every process on the host, from /proc (no psutil)."""
    procs = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is the state (stat's 3rd field): ppid is the 4th, session the 6th, utime and stime the
        # 14th and 15th
        procs[int(entry.name)] = Proc(
            int(entry.name),
            int(fields[1]),
            int(fields[3]),
            name,
            (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        )
    return procs


def descendants(root: int, procs: dict[int, Proc]) -> list[Proc]:
    """The children of `root`, their children and so on, parents before their children."""
    children: dict[int, list[Proc]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc)
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


class SlingWatchdog:
    """`with SlingWatchdog(600, log) as watchdog:` around the iteration of a Sling run."""

    def __init__(self, stall_seconds: float | None, log=None, poll_seconds: float = 5.0):
        self.stall_seconds = stall_seconds
        self.poll_seconds = min(poll_seconds, stall_seconds / 4) if stall_seconds else poll_seconds
        self.log = log
        self.killed: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SlingWatchdog:
        if self.stall_seconds and PROC.is_dir():
            self._thread = threading.Thread(target=self._watch, name="sling-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _slings(self, procs: dict[int, Proc]) -> list[Proc]:
        return [p for p in procs.values() if p.ppid == os.getpid() and p.name.startswith("sling")]

    def _watch(self) -> None:
        last_cpu: dict[int, float] = {}  # Sling pid -> its tree's CPU seconds at the previous poll
        idle_since: dict[int, float] = {}
        while not self._stop.wait(self.poll_seconds):
            procs, now = processes(), time.monotonic()
            for sling in self._slings(procs):
                tree = [sling, *descendants(sling.pid, procs)]
                cpu = sum(p.cpu_seconds for p in tree)
                busy = cpu - last_cpu.get(sling.pid, -1.0) >= MIN_CPU_SHARE * self.poll_seconds
                last_cpu[sling.pid] = cpu
                if busy:
                    idle_since.pop(sling.pid, None)
                    continue
                idle = now - idle_since.setdefault(sling.pid, now - self.poll_seconds)
                if idle >= self.stall_seconds:
                    self._kill(tree, idle)

    def _kill(self, tree: list[Proc], idle: float) -> None:
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in tree)
        self.killed = (
            f"Sling timed out: {names} used no CPU for {idle:.0f} s (stall_timeout_seconds="
            f"{self.stall_seconds:g}), a known Sling 1.4 hang with the DuckDB CLI; killed them"
        )
        if self.log is not None:
            self.log.error(self.killed)
        for proc in reversed(tree):  # the CLI first, so Sling cannot start another one in between
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
