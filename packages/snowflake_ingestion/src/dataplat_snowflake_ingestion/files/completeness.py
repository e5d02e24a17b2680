"""Whether a landing file is a whole delivery: the feed's completeness rule, checked on every path.

The sensor skips young files, but a schedule, a backfill or a manual run loads whatever is in the folder, so
the loader itself applies the rule before it reads the file (`await_delivery`, then
`Delivery.require_line_end`) and once more after the file was read (`FileState.unchanged_since`). Three rules, declared per feed:

- `stable` (default): the file was last modified at least `settle_seconds` ago (a younger file is waited for,
  up to `max_wait_seconds`), it does not change while it is read, and its last line ends with a line end.
  Writers that copy in chunks stop at any byte; a cut at a line end is the one case this rule cannot see:
  such producers should write a marker or a manifest.
- `marker`: a marker file (e.g. `{file}.done`) exists beside the data file and is not older than it.
- `manifest`: a JSON manifest (e.g. `{file}.manifest.json`) beside the data file states the file's `bytes`,
  and optionally its `sha256` and data `rows`; the file must match every stated value.

Under `marker` and `manifest` a last record without its line end is quarantined (a reject with its reason),
never loaded as a value; under `stable` such a file is not complete and is refused before staging.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, model_validator

from dataplat_snowflake_ingestion.files.identity import FileIdentity, sha256_of
from dataplat_snowflake_ingestion.files.schema import FileProblem

Rule = Literal["stable", "marker", "manifest"]


class FileIncomplete(FileProblem):
    """The file is not (yet) a whole delivery under the feed's completeness rule; nothing was staged."""


class Completeness(dg.Model, dg.Resolvable):
    """YAML `completeness`: the rule that says a landing file is a whole delivery (module docstring)."""

    rule: Rule = "stable"
    settle_seconds: float = Field(default=5, ge=0, le=3600)
    max_wait_seconds: float = Field(default=60, ge=0, le=3600)
    marker: str = Field(
        default="{file}.done", description="rule marker: the marker's name; {file} = data file"
    )
    manifest: str = Field(
        default="{file}.manifest.json", description="rule manifest: the manifest's name; {file} = data file"
    )

    @model_validator(mode="after")
    def _names(self) -> "Completeness":
        for key in ("marker", "manifest"):
            value = getattr(self, key)
            if "{file}" not in value or "/" in value or value == "{file}":
                raise ValueError(
                    f"completeness.{key} must hold {{file}}, no '/', and differ from it: {value!r}"
                )
        return self

    def companion(self, path: Path) -> Path | None:
        """The marker or manifest that belongs to `path` (None under `stable`)."""
        if self.rule == "stable":
            return None
        template = self.marker if self.rule == "marker" else self.manifest
        return path.with_name(template.replace("{file}", path.name))

    def pending_reason(self, path: Path) -> str | None:
        """Cheap test for the sensor: why `path` is not ready yet (its marker or manifest is missing)."""
        companion = self.companion(path)
        if companion is not None and not companion.is_file():
            return f"waiting for its {self.rule} {companion.name}"
        return None


@dataclass(frozen=True)
class FileState:
    """The file's size and modification time when the rule was checked: a different state after the file
    was read means it was being written during the load."""

    path: Path
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> "FileState":
        stat = path.stat()
        return cls(path, stat.st_size, stat.st_mtime_ns)

    def identity(self, sha256: str) -> FileIdentity:
        """What was loaded, for the partition's record: this state and the content's hash."""
        return FileIdentity(self.size, self.mtime_ns, sha256)

    def unchanged_since(self) -> None:
        now = FileState.of(self.path)
        if (now.size, now.mtime_ns) != (self.size, self.mtime_ns):
            raise FileIncomplete(
                f"{self.path}: changed while it was being loaded ({self.size} -> {now.size} bytes): still being "
                "written; nothing published, a later run loads the whole file"
            )


def _settled(path: Path, rule: Completeness) -> FileState:
    deadline = time.monotonic() + rule.max_wait_seconds
    while True:
        state = FileState.of(path)
        age = time.time() - state.mtime_ns / 1e9
        if age >= rule.settle_seconds:
            return state
        if time.monotonic() + (rule.settle_seconds - age) > deadline:
            raise FileIncomplete(
                f"{path}: still being written (modified {max(age, 0):.1f}s ago; completeness rule 'stable' "
                f"needs {rule.settle_seconds:g}s without a change, waited {rule.max_wait_seconds:g}s); "
                "nothing published"
            )
        time.sleep(min(rule.settle_seconds - age, 1.0) + 0.01)


def _check_manifest(path: Path, manifest: Path, state: FileState) -> int | None:
    """Compare the file with its manifest; returns the stated data `rows` (checked later against the count)."""
    try:
        stated = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileIncomplete(f"{path}: manifest {manifest.name} is not readable JSON ({exc})") from None
    if not isinstance(stated, dict) or not isinstance(stated.get("bytes"), int):
        raise FileIncomplete(
            f"{path}: manifest {manifest.name} must be a JSON object with an integer 'bytes'"
        )
    if stated["bytes"] != state.size:
        raise FileIncomplete(
            f"{path}: {state.size} bytes, its manifest {manifest.name} states {stated['bytes']}: incomplete "
            "or a different file; nothing published"
        )
    if "sha256" in stated and str(stated["sha256"]).lower() != sha256_of(path):
        raise FileIncomplete(f"{path}: content differs from the sha256 in its manifest {manifest.name}")
    rows = stated.get("rows")
    return rows if isinstance(rows, int) else None


@dataclass(frozen=True)
class Delivery:
    """A file the rule accepted so far: its state (checked again after reading), the rule, and the
    manifest's row count."""

    state: FileState
    rule: Completeness
    stated_rows: int | None = None

    def require_line_end(self, ends_with_newline: bool) -> None:
        """Under `stable`, a file whose last line has no line end is not whole (`FileIncomplete`)."""
        if self.rule.rule == "stable" and not ends_with_newline:
            raise FileIncomplete(
                f"{self.state.path}: the last line has no line end: the file was cut short or is still being "
                "written (completeness rule 'stable'); nothing published"
            )


def await_delivery(path: Path, rule: Completeness) -> Delivery:
    """Before the file is read: wait for it to settle (`stable`) or check its marker or manifest.
    `FileIncomplete` naming the file and the rule unless it is a whole delivery so far."""
    if not path.is_file():
        raise FileProblem(f"{path}: no such file")
    if rule.rule == "stable":
        return Delivery(_settled(path, rule), rule)
    state = FileState.of(path)
    companion = rule.companion(path)
    if not companion.is_file():
        raise FileIncomplete(f"{path}: no {rule.rule} {companion.name} yet (completeness rule '{rule.rule}')")
    if rule.rule == "marker":
        if companion.stat().st_mtime_ns < state.mtime_ns:
            raise FileIncomplete(
                f"{path}: changed after its marker {companion.name} was written; waiting for a new marker"
            )
        return Delivery(state, rule)
    return Delivery(state, rule, _check_manifest(path, companion, state))
