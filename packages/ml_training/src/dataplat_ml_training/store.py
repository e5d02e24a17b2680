"""A versioned model store on a local folder or an object store, through one fsspec code path.

Layout under the root URL (a folder, `file://...`, `s3://bucket/prefix`, `gs://...`, `memory://...`):

    <root>/<model_name>/<version>/model.pkl        the pickled scikit-learn pipeline
    <root>/<model_name>/<version>/metadata.json    metrics, feature schema, split, saved_at, ...

`version = "<package version>-<first 16 hex of sha256(model.pkl)>"`: the same data and config give the same
bytes and so the same version (reproducibility is checkable), and a new package version never collides with
a model an older release trained. Versions are never deleted here: earlier models stay loadable and listed.
Saving a version that already exists keeps its bytes and only refreshes `saved_at`, so `latest()` is always
the most recently trained model even when training reproduces an older one.

Only for artifacts this platform wrote: `load` unpickles, so the store's root must not be writable by others.
"""

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from upath import UPath

MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ModelVersion:
    """One stored model: its version and the metadata saved with it."""

    name: str
    version: str
    content_hash: str
    saved_at: str
    metadata: dict[str, Any] = field(default_factory=dict)


def content_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def serialize(model: Any) -> bytes:
    # Protocol 5 explicitly: the default protocol may change with the Python version and so would the hash.
    return pickle.dumps(model, protocol=5)


def resolve_root(url: str) -> UPath:
    """A local path or any fsspec URL as a path object; `s3://` needs the package's `s3` extra (s3fs)."""
    if not url:
        raise ValueError("model store URL is empty")
    return UPath(url)


class ModelStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.root = resolve_root(url)

    def __repr__(self) -> str:
        return f"ModelStore({self.url!r})"

    def _dir(self, name: str, version: str | None = None) -> UPath:
        path = self.root / name
        return path / version if version else path

    def save(
        self, name: str, model: Any, package_version: str, metadata: dict[str, Any] | None = None
    ) -> ModelVersion:
        payload = serialize(model)
        digest = content_hash(payload)
        version = f"{package_version}-{digest[:16]}"
        folder = self._dir(name, version)
        folder.mkdir(parents=True, exist_ok=True)
        model_path = folder / MODEL_FILE
        if not model_path.exists():
            # Metadata is written after the model, so a listed version always has its model file.
            model_path.write_bytes(payload)
        saved_at = datetime.now(UTC).isoformat()
        record = {
            "name": name,
            "version": version,
            "content_hash": digest,
            "package_version": package_version,
            "saved_at": saved_at,
            "metadata": metadata or {},
        }
        (folder / METADATA_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        return ModelVersion(name, version, digest, saved_at, record["metadata"])

    def _read(self, folder: UPath) -> ModelVersion | None:
        meta = folder / METADATA_FILE
        if not meta.exists():  # a save that died between the model and its metadata: not a version
            return None
        record = json.loads(meta.read_text())
        return ModelVersion(
            record["name"], record["version"], record["content_hash"], record["saved_at"], record["metadata"]
        )

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every stored version, oldest first (by when it was last saved)."""
        base = self._dir(name)
        if not base.exists():
            return []
        found = [v for child in base.iterdir() if child.is_dir() and (v := self._read(child)) is not None]
        return sorted(found, key=lambda v: (v.saved_at, v.version))

    def latest(self, name: str, *, promoted_only: bool = False) -> ModelVersion | None:
        """The most recently saved version; with `promoted_only`, the newest one that passed its gates."""
        versions = self.list_versions(name)
        if promoted_only:
            versions = [v for v in versions if v.metadata.get("promoted")]
        return versions[-1] if versions else None

    def get(self, name: str, version: str) -> ModelVersion:
        found = self._read(self._dir(name, version))
        if found is None:
            raise ModelNotFound(f"model {name} version {version} is not in {self.url}")
        return found

    def load(self, name: str, version: str) -> Any:
        path = self._dir(name, version) / MODEL_FILE
        if not path.exists():
            raise ModelNotFound(f"model {name} version {version} is not in {self.url}")
        payload = path.read_bytes()
        # The version names its content: a truncated or altered file is refused instead of half-loaded.
        if not version.endswith(content_hash(payload)[:16]):
            raise ValueError(f"model {name} version {version}: stored bytes do not match the version's hash")
        return pickle.loads(payload)
