"""Shared by the bench scripts: machine facts, peak memory of a process tree, tables, the JSON result file.

Standard library only: it is imported from every package's venv and from the repository's own.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROWS_PER_ORDER = 2.83  # the sandbox: customers + products + orders + order_items per order
VERSIONS = ("duckdb", "sling-linux-amd64", "dlt", "dagster", "scikit-learn", "nox")
GIB_MIB = 1024
_LOAD_AT_START = os.getloadavg()


def orders_for_rows(rows: int) -> int:
    """Orders that make about `rows` source rows in the sandbox's PostgreSQL (customers to order items)."""
    return max(1, round(rows / ROWS_PER_ORDER))


def median(values) -> float:
    return statistics.median(list(values))


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    versions = {}
    for dist in VERSIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": versions,  # of this part's venv
        # 1/5/15-minute load averages when the part started and ended: the machine may have been busy.
        "load_average_start": [round(x, 2) for x in _LOAD_AT_START],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def vmhwm_mib() -> float:
    """Peak resident memory of this process (VmHWM: ru_maxrss carries a parent's peak over fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from one scan of /proc (which lists processes, not threads).

    Not /proc/PID/task/TID/children: it can still name a child that has exited, and Linux gives thread ids
    from the same numbers as process ids, so that number could be a new thread of this very process, whose
    memory was then counted as a child's (the Sling bench reported the harness's 766 MiB for the scanner)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


class PeakRss:
    """Peak of the summed RSS of this process and all its descendants (minus `exclude` and their trees),
    sampled every 50 ms while the block runs: Sling plus the DuckDB CLI it drives, dlt's workers, etc.
    `children_only`: this process is only the harness (it starts a CLI and waits): count its descendants."""

    def __init__(self, exclude: tuple[int, ...] = (), children_only: bool = False):
        self.exclude, self.peak_mib = set(exclude), 0.0
        self._children_only = children_only

    def __enter__(self) -> PeakRss:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while True:
            parents, me = _parents(), os.getpid()
            children: dict[int, list[int]] = {}
            for pid, parent in parents.items():
                children.setdefault(parent, []).append(pid)
            todo, total = list(children.get(me, [])) if self._children_only else [me], 0
            while todo:
                pid = todo.pop()
                if pid not in self.exclude:
                    total += _rss_bytes(pid)
                    todo += children.get(pid, [])
            self.peak_mib = max(self.peak_mib, total / 2**20)
            if self._stop.wait(0.05):
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def timed(
    fn, *args, exclude: tuple[int, ...] = (), children_only: bool = False
) -> tuple[float, float, object]:
    """(seconds, peak MiB of the process tree, fn's result)."""
    with PeakRss(exclude, children_only) as rss:
        started = time.perf_counter()
        result = fn(*args)
        seconds = time.perf_counter() - started
    return seconds, rss.peak_mib, result


def table(title: str, columns: list[str], rows: list[list]) -> dict:
    return {"title": title, "columns": columns, "rows": [[str(c) for c in r] for r in rows]}


def target(name: str, measured: str, met: bool | None) -> dict:
    """One of issue #9's targets: `met` None when it could not be measured in this run."""
    return {"target": name, "measured": measured, "met": met}


def markdown(t: dict) -> str:
    lines = [f"| {' | '.join(t['columns'])} |", "|" + "---|" * len(t["columns"])]
    return "\n".join(lines + [f"| {' | '.join(r)} |" for r in t["rows"]])


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[met]


def report(part: str, json_path: Path | None, *, sizes: list, repeat: int, raw, tables: list[dict],
           targets: list[dict], notes: list[str] = ()) -> None:  # fmt: skip
    """Print the tables and target verdicts, and write the part's JSON result file when asked."""
    for t in tables:
        print(f"\n{t['title']}\n{markdown(t)}")
    print()
    for t in targets:
        print(f"{verdict(t['met']):>12}  {t['target']}: {t['measured']}")
    if json_path is None:
        return
    result = {
        "part": part,
        "command": os.environ.get("BENCH_COMMAND") or shlex.join(["python", *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sizes": sizes,
        "repeat": repeat,
        "raw": raw,
        "tables": tables,
        "targets": targets,
        "notes": list(notes),
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {json_path}")
