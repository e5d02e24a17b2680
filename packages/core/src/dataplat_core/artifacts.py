"""`ArtifactStore`: where the platform keeps the files it produces (trained models, rendered reports).

One resource, `artifacts`, from `ARTIFACTS_URL`: a folder, or an fsspec URL (`s3://bucket/prefix`, `gs://...`;
the image then carries that filesystem's package, e.g. `s3fs`). Each kind of artifact has its own place under it
(`location("models")`, `location("reports")`). It is not derived from the warehouse: a Snowflake warehouse has
no local file, and a DuckDB file's folder is not where a team wants its models.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import dagster as dg

_KIND = re.compile(r"^[a-z][a-z0-9_-]*\Z")


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def write_text(location: str, text: str) -> str:
    """Write the whole file at `location` (a path or an fsspec URL) so that a reader never sees half of it: a
    local file is written beside and renamed over the old one; an object store writes whole objects. Returns
    the location written (a local path resolved)."""
    if not is_local(location):
        try:
            import fsspec  # only for an object store; the local path needs nothing
        except ImportError as exc:
            raise ImportError(
                f"writing {location} needs fsspec and its filesystem's package (e.g. s3fs)"
            ) from exc

        with fsspec.open(location, "w", encoding="utf-8") as fh:
            fh.write(text)
        return location
    path = Path(location.removeprefix("file://")).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path)


class ArtifactStore(dg.ConfigurableResource):
    """The root of the platform's artifacts (`ARTIFACTS_URL`)."""

    url: str

    def location(self, kind: str) -> str:
        """Where artifacts of `kind` (a plain name: `models`, `reports`) live: a folder or a URL."""
        if not _KIND.match(kind):
            raise ValueError(f"an artifact kind is a plain lower-case name, not {kind!r}")
        if is_local(self.url):
            return str(Path(self.url.removeprefix("file://")).expanduser().resolve() / kind)
        return f"{self.url.rstrip('/')}/{kind}"
