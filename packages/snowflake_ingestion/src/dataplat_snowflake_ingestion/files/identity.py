"""What a file partition loaded: the delivered file's identity, recorded in the partition's materialization.

The materialization is the one record of what is loaded. Every path consults it before it loads a file:
the asset itself (so a schedule tick, a backfill, a manual run or the demo never reloads an unchanged file),
the sensor (it requests no run for a file that is loaded already) and the schedule (it skips a day whose file
is loaded already). A run tagged `dataplat/reload=true` loads every file of its partitions regardless.

A file is unchanged when its size and modification time equal the record's, or, when only the modification
time differs (a re-delivery of the same bytes), when its SHA-256 equals the record's.
"""

import hashlib
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

FORCE_TAG = "dataplat/reload"  # a run tagged `dataplat/reload=true` reloads unchanged files too

SIZE, MTIME, SHA256 = "dataplat/file_size", "dataplat/file_mtime_ns", "dataplat/file_sha256"


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_started(path: Path) -> Future[str]:
    """The file's SHA-256, computed in a thread while the loader reads the file (hashlib releases the GIL),
    so that hashing overlaps the load instead of adding its own pass over the file to the load's time."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataplat-sha256")
    try:
        return pool.submit(sha256_of, path)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


@dataclass(frozen=True)
class FileIdentity:
    size: int
    mtime_ns: int
    sha256: str

    def metadata(self) -> dict[str, object]:
        # mtime as text: nanoseconds since the epoch do not fit the UI's float rendering exactly.
        return {SIZE: self.size, MTIME: str(self.mtime_ns), SHA256: self.sha256}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, dg.MetadataValue]) -> "FileIdentity | None":
        if not all(k in metadata for k in (SIZE, MTIME, SHA256)):
            return None  # loaded before identities were recorded: treated as changed, loaded once more
        return cls(int(metadata[SIZE].value), int(metadata[MTIME].value), str(metadata[SHA256].value))


def unchanged_reason(path: Path, recorded: FileIdentity | None) -> str | None:
    """Why `path` need not be loaded again (it is what `recorded` says was loaded), or None."""
    if recorded is None or not path.is_file():
        return None
    stat = path.stat()
    if stat.st_size != recorded.size:
        return None
    if stat.st_mtime_ns == recorded.mtime_ns:
        return "unchanged since it was loaded (same size and modification time)"
    if sha256_of(path) == recorded.sha256:
        return "re-delivered with the same content as loaded (same SHA-256)"
    return None


def recorded_identities(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_keys: Iterable[str]
) -> dict[str, FileIdentity]:
    """The identity in each partition's latest materialization (partitions never loaded are absent)."""
    wanted = set(partition_keys)
    if not wanted:
        return {}
    latest = instance.get_latest_storage_id_by_partition(
        asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=wanted
    )
    if not latest:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    identities = {}
    for record in records:
        materialization = record.asset_materialization
        identity = materialization and FileIdentity.from_metadata(materialization.metadata)
        if identity is not None:
            identities[materialization.partition] = identity
    return identities


def force_requested(tags: Mapping[str, str]) -> bool:
    return tags.get(FORCE_TAG, "").lower() == "true"
