"""The repository's projects and what depends on what, read from their pyproject.toml files (standard library
only: nox imports it before any venv exists).

A project is a folder with a pyproject.toml under `packages/` (a component, core, the sandbox) or
`deployments/<environment>/<location>/`. It depends on the `dataplat-*` distributions it names in
`[project].dependencies` or in a dependency group (the sandbox is a test dependency of most packages).

    uv run --locked python tools/workspace.py affected <base-ref>   # the projects a change since <base-ref> touches
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Project:
    name: str  # the distribution, e.g. dataplat-core
    path: str  # relative to the repository, e.g. packages/core
    requires: frozenset[str]  # the dataplat-* distributions it depends on, tests included

    @property
    def kind(self) -> str:
        return "package" if self.path.startswith("packages/") else "deployment"


def _requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def projects(root: Path = ROOT) -> dict[str, Project]:
    """Every project of the repository, by distribution name."""
    found = {}
    for pyproject in sorted(
        [*root.glob("packages/*/pyproject.toml"), *root.glob("deployments/*/*/pyproject.toml")]
    ):
        meta = tomllib.loads(pyproject.read_text())
        requirements = list(meta["project"].get("dependencies", []))
        for group in meta.get("dependency-groups", {}).values():
            requirements += [r for r in group if isinstance(r, str)]
        names = {_requirement_name(r) for r in requirements}
        name = _requirement_name(meta["project"]["name"])
        path = pyproject.parent.relative_to(root).as_posix()
        found[name] = Project(
            name, path, frozenset(n for n in names if n.startswith("dataplat-") and n != name)
        )
    return found


def dependents(changed: set[str], every: dict[str, Project]) -> set[str]:
    """`changed` and every project that depends on one of them, directly or through another project."""
    selected = set(changed)
    while True:
        more = {p.name for p in every.values() if p.requires & selected} - selected
        if not more:
            return selected
        selected |= more


def owner(path: str, every: dict[str, Project]) -> str | None:
    """The project a repository file belongs to, or None (the noxfile, tools/, scripts/, docs/ ...)."""
    for project in every.values():
        if path == project.path or path.startswith(project.path + "/"):
            return project.name
    return None


def changed_files(base: str, root: Path = ROOT) -> list[str]:
    """Files that differ from `base` (committed or not) and files git does not track yet (not ignored)."""

    def git(*args: str) -> list[str]:
        out = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line]

    return sorted(
        set(git("diff", "--name-only", base)) | set(git("ls-files", "--others", "--exclude-standard"))
    )


# Files outside every project that still belong to one area only; anything else (the noxfile, tools/, the root
# lock, the CI script) may change how every session runs, so it selects everything.
_DOCS_ONLY = re.compile(r"^(docs/|bench/|[^/]+\.md$)")


def affected(files: list[str], every: dict[str, Project]) -> set[str] | None:
    """The projects a change of `files` touches (those changed and their dependents); None means every project
    (a file outside every project that is not documentation)."""
    changed: set[str] = set()
    for path in files:
        name = owner(path, every)
        if name is not None:
            changed.add(name)
        elif not _DOCS_ONLY.match(path):
            return None
    return dependents(changed, every)


def packages(every: dict[str, Project]) -> dict[str, str]:
    """nox's `tests(<folder>)` parameters: folder name -> path, for every package."""
    return {Path(p.path).name: p.path for p in every.values() if p.kind == "package"}


def local_deployments(every: dict[str, Project]) -> dict[str, str]:
    """nox's `deployment(local-<location>)` parameters: the local code locations, which have tests of their own
    (staging and prod are tested by `release`, from the index)."""
    return {
        f"local-{Path(p.path).name}": p.path
        for p in every.values()
        if p.path.startswith("deployments/local/")
    }


def test_sessions(every: dict[str, Project]) -> dict[str, set[str]]:
    """Each nox test session and the projects whose change it must test."""
    sessions = {f"tests({name})": {_name_at(path, every)} for name, path in packages(every).items()}
    local = {_name_at(path, every) for path in local_deployments(every).values()}
    sessions |= {
        f"deployment({name})": {_name_at(path, every)} for name, path in local_deployments(every).items()
    }
    sessions["demo"] = sessions["ui"] = local  # both run the local code locations end to end
    sessions["release"] = set(every) - local  # builds every package, installs staging and prod from the index
    return sessions


def _name_at(path: str, every: dict[str, Project]) -> str:
    return next(p.name for p in every.values() if p.path == path)


def sessions_for(selected: set[str] | None, every: dict[str, Project]) -> list[str]:
    """The test sessions a change touching `selected` needs (all of them for None), `lint` always."""
    chosen = [s for s, tested in test_sessions(every).items() if selected is None or tested & selected]
    return sorted(chosen) + ["lint"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("affected", help="the projects touched since a git ref").add_argument("base")
    args = parser.parse_args(argv)
    every = projects()
    selected = affected(changed_files(args.base), every)
    for name in sorted(every if selected is None else selected):
        print(f"{name}\t{every[name].path}")
    print("sessions: " + " ".join(sessions_for(selected, every)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
