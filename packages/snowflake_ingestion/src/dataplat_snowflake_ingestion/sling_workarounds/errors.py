"""Sling's failure output, explained: which side of the replication failed, in one line a person can act on.

dagster-sling raises `Exception("Sling command failed:\\n" + <Sling's whole colored log>)`. Two faults deserve
a clear first line naming the part that failed:

- the source database cannot be reached, or goes away mid-read (Sling says `dial tcp 127.0.0.1:5433: connect:
  connection refused` with a hint about `sslmode`, or `unexpected EOF`): "source PostgreSQL at
  127.0.0.1:5433/app unreachable (Sling connection SOURCE_PG) ...", not retried when nothing listens on its port
  (retried when the connection was lost mid-read);
- the source refuses the user or password: "source PostgreSQL at ... refused the credentials of user ...",
  not retried;
- the DuckDB warehouse file is locked by another process: "warehouse DuckDB file ... is locked by process n ...".

Sling's own per-stream messages follow, without the color codes.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dataplat_core.duckdb_warehouse import LOCK_CONFLICT

from dataplat_snowflake_ingestion.resources import CREDENTIALS_REFUSED

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# What a PostgreSQL that stopped or vanished mid-read looks like through Sling's Go driver.
_SOURCE_GONE = re.compile(
    r"terminating connection|SQLSTATE 57P0[123]|unexpected EOF|connection reset by peer|"
    r"server closed the connection|the database system is (shutting down|starting up)",
    re.IGNORECASE,
)
_BANNER = re.compile(r"Sling Replication .*?\| (?P<source>\S+) -> (?P<target>\S+)")
_DATABASE_TYPES = {"postgres": "PostgreSQL", "mysql": "MySQL", "sqlserver": "SQL Server", "oracle": "Oracle"}
MAX_DETAIL_CHARS = 4000


def clean_sling_output(text: str) -> str:
    """Sling's log without color codes and without dagster-sling's `Sling command failed:` prefix."""
    return _ANSI.sub("", text).removeprefix("Sling command failed:").strip()


def _fatal_part(text: str) -> str:
    """The summary Sling prints after `fatal:` (one block per failed stream), else the end of the log."""
    _, found, after = text.partition("fatal:")
    detail = after.strip() if found else text
    return detail[-MAX_DETAIL_CHARS:]


def _reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _connection(environment: Mapping[str, str], name: str | None) -> dict[str, Any] | None:
    """The connection as Sling receives it (`SlingResource.prepare_environment()` values are JSON)."""
    raw = environment.get(name or "")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _connection_names(text: str, environment: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`(source, target)` from Sling's banner (`Sling Replication [3 streams] | SOURCE_PG -> WAREHOUSE`), else the
    one connection that has a host (the source database) and the other one."""
    banner = _BANNER.search(text)
    if banner:
        return banner["source"], banner["target"]
    with_host = [name for name in environment if (_connection(environment, name) or {}).get("host")]
    others = [name for name in environment if name not in with_host and _connection(environment, name)]
    return (with_host[0] if len(with_host) == 1 else None), (others[0] if len(others) == 1 else None)


def explain_sling_failure(message: str, environment: Mapping[str, str]) -> tuple[str, bool] | None:
    """A clear first line for a known fault, followed by Sling's own messages, and whether a retry may help;
    None when not recognised.

    `environment` is `SlingResource.prepare_environment()` (the connections as Sling receives them).
    """
    text = clean_sling_output(message)
    detail = _fatal_part(text)
    source, target = _connection_names(text, environment)

    lock = LOCK_CONFLICT.search(text)
    if lock:
        return (
            f"warehouse DuckDB file {lock['path']} is locked by process {lock['pid']} ({lock['exe']}): Sling "
            f"could not open it (Sling connection {target}). DuckDB allows one writing process per file; stop "
            f"that process or let it finish, then re-run.\nSling said:\n{detail}",
            True,  # the holder may be about to finish (the resource already waited for it)
        )

    conn = _connection(environment, source)
    if not conn or not conn.get("host") or not conn.get("port"):
        return None
    host, port, database = conn["host"], int(conn["port"]), conn.get("database") or "?"
    kind = _DATABASE_TYPES.get(str(conn.get("type")), str(conn.get("type") or "database"))
    where = f"source {kind} at {host}:{port}/{database}"
    if CREDENTIALS_REFUSED.search(text):
        return (
            f"{where} refused the credentials of user {conn.get('user') or '?'} (Sling connection {source}): "
            f"check SOURCE_PG_USER and SOURCE_PG_PASSWORD (the platform builds {source} from them); a retry "
            f"is refused the same way.\nSling said:\n{detail}",
            False,
        )
    # Nothing listening is not a transient fault: the step fails at once (retries would only delay the
    # message). A connection lost mid-read, to a source that answers again, is retried.
    fix = "check that the database is running and accepts connections from this host, then re-run"
    if not _reachable(host, port):
        state, fix, retry = (
            "unreachable",
            f"nothing listens there (connection refused), not retried. {fix.capitalize()}",
            False,
        )
    elif f"dial tcp {host}:{port}" in text:
        state, retry = "unreachable", True
    elif _SOURCE_GONE.search(text):
        state, retry = "lost its connection during the replication", True
    else:
        return None
    return f"{where} {state} (Sling connection {source}): {fix}.\nSling said:\n{detail}", retry


def explain_failures(events: Iterator[Any], sling: Any) -> Iterator[Any]:
    """`events` (a `sling.replicate(...)` iterator) unchanged; a Sling failure that `explain_sling_failure`
    recognises is raised as a `dg.Failure` with that description (the original error as its cause)."""
    try:
        yield from events
    except Exception as exc:
        try:
            explained = explain_sling_failure(str(exc), sling.prepare_environment())
        except Exception:  # explaining must never hide the original error
            explained = None
        if explained is None:
            raise
        description, retry = explained
        raise dg.Failure(description=description, allow_retries=retry) from exc
