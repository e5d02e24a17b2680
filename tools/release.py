"""Version discipline: a committed record of every release, checked at lint time, and the release steps.

    uv run --locked python tools/release.py check                 # run by `nox -s lint`
    uv run --locked python tools/release.py bump <folder> minor   # version + CHANGELOG heading (major|minor|patch)
    uv run --locked python tools/release.py record <folder>       # the release's entry in releases.toml
    uv run --locked python tools/release.py tag                   # after the commit: `<dist>-vX.Y.Z` tags
    uv run --locked python tools/release.py promote <folder> staging   # then prod: pins, and their locks

A released version is immutable (the staging and prod locks pin its files by hash): `releases.toml` holds, for
each release, the package, its version and a hash of what its wheel is built from (`pyproject.toml`,
`README.md` and `src/`). A clone may carry no tags; the record is in the tree. `check` fails when a package's
contents differ from the record of its current version (changed without a bump), or when its version is not
recorded yet and is not above every recorded one or has no CHANGELOG heading of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

from repo import ROOT

RECORD_NAME = "releases.toml"
UNRELEASED = "## Unreleased"
_VERSION_LINE = re.compile(r'^version = "(?P<version>[^"]+)"$', re.M)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def package_folders(root: Path = ROOT) -> list[Path]:
    return sorted(p.parent for p in (root / "packages").glob("*/pyproject.toml"))


def meta(folder: Path) -> tuple[str, str]:
    """(distribution name, version) of a package folder."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    return project["name"], project["version"]


def contents_hash(folder: Path) -> str:
    """SHA-256 over what the package's wheel is built from: pyproject.toml, README.md and every file under src/
    (bytecode caches excluded), each by its path in the folder and its bytes."""
    files = [folder / "pyproject.toml", folder / "README.md", *(folder / "src").rglob("*")]
    digest = hashlib.sha256()
    for path in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def releases(root: Path = ROOT) -> list[dict]:
    record = root / RECORD_NAME
    return tomllib.loads(record.read_text()).get("release", []) if record.exists() else []


def problems(root: Path = ROOT) -> list[str]:
    """What the version discipline refuses, one line per package; empty when every package is in order."""
    recorded = releases(root)
    found = []
    for folder in package_folders(root):
        dist, version = meta(folder)
        mine = {r["version"]: r["contents"] for r in recorded if r["package"] == dist}
        where = folder.relative_to(root).as_posix()
        if version in mine:
            if mine[version] != contents_hash(folder):
                found.append(
                    f"{where}: {dist} {version} is released and its files changed since: bump its version "
                    f"(`python tools/release.py bump {folder.name} patch|minor|major`) and describe the change "
                    "in its CHANGELOG"
                )
            continue
        newest = max(mine, key=_version_key, default=None)
        if newest is not None and _version_key(version) <= _version_key(newest):
            found.append(f"{where}: {dist} {version} is not above its last release {newest}")
        changelog = folder / "CHANGELOG.md"
        if not re.search(
            rf"^## {re.escape(version)}\b", changelog.read_text() if changelog.exists() else "", re.M
        ):
            found.append(f"{where}: {dist} {version} has no `## {version}` heading in CHANGELOG.md")
    return found


def bump(folder: Path, part: str, today: date | None = None) -> str:
    """The package's next version (SemVer `part`) in its pyproject.toml, and its CHANGELOG's `## Unreleased`
    entries under a heading of that version (a fresh, empty `## Unreleased` above). Refused without entries."""
    _, version = meta(folder)
    major, minor, patch = _version_key(version)
    new = {
        "major": f"{major + 1}.0.0",
        "minor": f"{major}.{minor + 1}.0",
        "patch": f"{major}.{minor}.{patch + 1}",
    }[part]
    changelog = folder / "CHANGELOG.md"
    text = changelog.read_text()
    head, sep, rest = text.partition(UNRELEASED + "\n")
    entries = rest.split("\n## ", 1)[0].strip()
    if not sep or not entries:
        raise SystemExit(
            f"{changelog}: no entries under `{UNRELEASED}`: describe the change before releasing it"
        )
    heading = f"## {new} ({(today or date.today()).isoformat()})"
    changelog.write_text(f"{head}{UNRELEASED}\n\n{heading}\n{rest}")
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(_VERSION_LINE.sub(f'version = "{new}"', pyproject.read_text(), count=1))
    return new


def record(folder: Path, root: Path = ROOT) -> dict:
    """Add the package's current version to the release record (refused if recorded: versions are immutable)."""
    dist, version = meta(folder)
    if any(r["package"] == dist and r["version"] == version for r in releases(root)):
        raise SystemExit(f"{dist} {version} is already released: bump it first")
    entry = {"package": dist, "version": version, "contents": contents_hash(folder)}
    path = root / RECORD_NAME
    text = (
        path.read_text()
        if path.exists()
        else ("# Every release of every package (tools/release.py): a released version is immutable.\n")
    )
    body = "".join(f'{k} = "{v}"\n' for k, v in entry.items())
    path.write_text(f"{text.rstrip()}\n\n[[release]]\n{body}")
    return entry


def tag(root: Path = ROOT) -> list[str]:
    """`<dist>-vX.Y.Z` on HEAD for each recorded release without its tag (where the clone carries git)."""
    made = []
    existing = set(
        subprocess.run(["git", "tag"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    )
    for entry in releases(root):
        name = f"{entry['package']}-v{entry['version']}"
        if name not in existing:
            subprocess.run(["git", "tag", name], cwd=root, check=True)
            made.append(name)
    return made


ENVIRONMENTS = ("staging", "prod")  # the order of promotion
_PIN = r"(?P<head>\"{dist}(?:\[[^\]]*\])?==)(?P<version>[^\"]+)\""


def pinned(deployment: Path, dist: str) -> str | None:
    """The version of `dist` the deployment pins, None when it does not depend on it."""
    found = re.search(_PIN.format(dist=re.escape(dist)), (deployment / "pyproject.toml").read_text())
    return found["version"] if found else None


def promote(folder: Path, environment: str, root: Path = ROOT) -> list[Path]:
    """Pin the package's current, released version in every `environment` deployment that depends on it
    (prod only once staging pins it). Returns the deployments changed; their locks are regenerated by
    `internal_index.py lock`."""
    dist, version = meta(folder)
    if not any(r["package"] == dist and r["version"] == version for r in releases(root)):
        raise SystemExit(f"{dist} {version} is not released (tools/release.py record) and cannot be promoted")
    before = ENVIRONMENTS[: ENVIRONMENTS.index(environment)]
    for earlier in before:
        behind = [d for d in sorted((root / "deployments" / earlier).glob("*/pyproject.toml"))
                  if pinned(d.parent, dist) not in (None, version)]  # fmt: skip
        if behind:
            raise SystemExit(
                f"{dist} {version} is not in {earlier} yet ({behind[0].parent}): promote it there first"
            )
    changed = []
    for deployment in sorted(p.parent for p in (root / "deployments" / environment).glob("*/pyproject.toml")):
        if pinned(deployment, dist) not in (None, version):
            pyproject = deployment / "pyproject.toml"
            pattern = re.compile(_PIN.format(dist=re.escape(dist)))
            pyproject.write_text(pattern.sub(lambda m: f'{m["head"]}{version}"', pyproject.read_text()))
            changed.append(deployment)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="fail on a package changed without a version bump and a CHANGELOG heading")
    bump_cmd = sub.add_parser("bump", help="next version and its CHANGELOG heading")
    bump_cmd.add_argument("folder", help="the package's folder name under packages/")
    bump_cmd.add_argument("part", choices=["major", "minor", "patch"])
    record_cmd = sub.add_parser("record", help="add the package's current version to releases.toml")
    record_cmd.add_argument("folder")
    sub.add_parser("tag", help="tag HEAD for every recorded release without its tag")
    promote_cmd = sub.add_parser("promote", help="pin the package's released version in an environment")
    promote_cmd.add_argument("folder")
    promote_cmd.add_argument("environment", choices=ENVIRONMENTS)
    args = parser.parse_args(argv)
    if args.command == "check":
        found = problems()
        for line in found:
            print(f"release: {line}", file=sys.stderr)
        print(f"release: {len(package_folders())} packages, {len(found)} problem(s)")
        return 1 if found else 0
    if args.command == "bump":
        print(bump(ROOT / "packages" / args.folder, args.part))
    elif args.command == "record":
        print(record(ROOT / "packages" / args.folder))
    elif args.command == "promote":
        changed = promote(ROOT / "packages" / args.folder, args.environment)
        print("\n".join(str(d.relative_to(ROOT)) for d in changed) or "nothing to promote")
        if changed:
            import internal_index

            internal_index.lock()
    else:
        print("\n".join(tag()) or "every release is tagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
