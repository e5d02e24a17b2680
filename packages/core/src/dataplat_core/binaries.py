"""Sling and the DuckDB CLI without downloads, from registry packages only.

- The `sling` Python package downloads its Go binary on first import unless `SLING_BINARY` is set; the
  `sling-linux-*` wheels ship that binary.
- Sling drives the DuckDB *CLI* for a DuckDB target and downloads it unless `DUCKDB_PATH` is set; the
  `duckdb-cli` wheel ships it.
- That CLI then installs the `json`/`httpfs` extensions from the internet unless they are in its extension
  directory. The `duckdb-ext-*` wheels ship them, but under site-packages, not `~/.duckdb`. Instead of copying
  into the user's home we point `DUCKDB_PATH` at a two-line wrapper that starts the real CLI with
  `extension_directory` set to the wheels' folder and auto-install off.
- Sling writes its home folder (`~/.sling`) and a Snowflake OCSP cache (`~/.cache/snowflake`): `SLING_BINARY`
  is a wrapper that gives it a home in the platform's state folder.

`configure_offline_binaries()` is called by the resource factory when definitions are built (not at import),
so every process that runs Sling (code server, run worker, test) has it without anyone exporting anything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DUCKDB_VERSION = "v1.4.4"


class OfflineBinaryMissing(RuntimeError):
    pass


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineBinaryMissing(f"package {module!r} is not installed in {sys.prefix}")
    return Path(next(iter(spec.submodule_search_locations)))


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def sling_binary() -> Path:
    arch = _arch()
    path = _package_dir(f"sling_linux_{arch}") / "bin" / f"sling-linux-{arch}"
    if not path.is_file():
        raise OfflineBinaryMissing(f"Sling binary not found at {path}")
    return path


def duckdb_cli() -> Path:
    # The duckdb-cli wheel installs its executable into the environment's scripts folder.
    candidate = Path(sys.prefix) / "bin" / "duckdb"
    if candidate.is_file():
        return candidate
    found = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    if not found:
        raise OfflineBinaryMissing(f"DuckDB CLI (package duckdb-cli) not found in {sys.prefix}")
    return Path(found)


def duckdb_extension_dir() -> Path:
    """The folder to use as DuckDB's `extension_directory` (holds `v1.4.4/linux_amd64/*.duckdb_extension`)."""
    path = _package_dir("duckdb_ext") / "extensions"
    platform_dir = path / DUCKDB_VERSION / f"linux_{_arch()}"
    if not platform_dir.is_dir():
        raise OfflineBinaryMissing(f"DuckDB extensions for {DUCKDB_VERSION} not found under {path}")
    return path


def duckdb_connection_config() -> dict[str, object]:
    """Config for the Python `duckdb` library: load extensions from the wheels, never download."""
    return {
        "extension_directory": str(duckdb_extension_dir()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def _write_script(folder: Path, stem: str, body: str) -> Path:
    """An executable script in `folder` whose name hashes its content: environments with different venvs or
    state folders never overwrite each other's, and writing it is atomic (rename), so concurrent processes
    never run a half-written script."""
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    target = folder / f"{stem}-{digest}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    return target


def duckdb_cli_wrapper(state_dir: Path) -> Path:
    """A wrapper script (in `state_dir`/bin) that runs the wheel's DuckDB CLI with the wheels' extensions."""
    cli, ext = duckdb_cli(), duckdb_extension_dir()
    init = f"SET extension_directory='{ext}'; SET autoinstall_known_extensions=false;"
    return _write_script(state_dir / "bin", "duckdb", f'#!/bin/sh\nexec "{cli}" -cmd "{init}" "$@"\n')


def sling_wrapper(state_dir: Path) -> Path:
    """A wrapper script that runs the wheel's Sling binary with `state_dir`/sling as its home folder.

    `SLING_HOME_DIR` alone moves Sling's `env.yaml` and state database, but its Snowflake driver still writes an
    OCSP cache under `$HOME/.cache/snowflake` (checked with Sling 1.4.11, also with `SF_OCSP_RESPONSE_CACHE_DIR`
    set): HOME is set for the binary and the DuckDB CLI it starts, so neither writes into the user's home."""
    home = state_dir / "sling"
    body = f'#!/bin/sh\nHOME="{home}" SLING_HOME_DIR="{home}" exec "{sling_binary()}" "$@"\n'
    home.mkdir(parents=True, exist_ok=True)
    return _write_script(state_dir / "bin", "sling", body)


@dataclass(frozen=True)
class OfflineBinaries:
    sling: Path
    duckdb_cli: Path
    duckdb_extensions: Path

    def environment(self) -> dict[str, str]:
        return {
            "SLING_BINARY": str(self.sling),
            "DUCKDB_PATH": str(self.duckdb_cli),
            # Sling reports usage to its vendor by default; an air-gapped deployment must not try.
            "SLING_DISABLE_TELEMETRY": "true",
        }


def configure_offline_binaries(state_dir: Path) -> OfflineBinaries:
    """Point Sling and its DuckDB CLI at the wheels' binaries in this process's environment, with their
    working files in `state_dir` (the platform's `DATAPLAT_STATE_DIR`).

    Values a user already exported win, so a deployment can still bring its own binaries.
    """
    binaries = OfflineBinaries(
        sling_wrapper(state_dir), duckdb_cli_wrapper(state_dir), duckdb_extension_dir()
    )
    for name, value in binaries.environment().items():
        # A value this function set before (another state folder in the same process: tests) is replaced.
        if os.environ.get(name) in (None, _configured.get(name)):
            os.environ[name] = _configured[name] = value
    return binaries


_configured: dict[str, str] = {}  # what configure_offline_binaries() put into os.environ
