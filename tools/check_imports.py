"""A package imports only the platform packages it declares, and cannot import the others.

Run by every nox session inside that package's own venv:

    python tools/check_imports.py packages/reporting

1. Static: every `import dataplat_*` in src/ names the package itself or a declared dependency
   (tests/ may also use the dev group, e.g. the sandbox).
2. Live: each platform package that the project does not depend on fails to import in this venv, so an
   undeclared import cannot pass by accident (a shared venv, a stray sys.path entry).
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PREFIX = "dataplat_"


def _dist_module(requirement: str) -> str | None:
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("-", "_")
    return name if name.startswith(PREFIX) else None


def _platform_modules() -> set[str]:
    return {p.name for p in REPO.glob("packages/*/src/dataplat_*") if p.is_dir()}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {m for m in found if m.startswith(PREFIX)}


def main(project: Path) -> int:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    own = {Path(p).name for p in meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]}
    declared = own | {m for r in meta["project"].get("dependencies", []) if (m := _dist_module(r))}
    dev = {
        m
        for r in meta.get("dependency-groups", {}).get("dev", [])
        if isinstance(r, str) and (m := _dist_module(r))
    }
    errors = []
    for folder, allowed in (("src", declared), ("tests", declared | dev)):
        for path in sorted((project / folder).rglob("*.py")):
            for module in sorted(_imports(path) - allowed):
                errors.append(
                    f"{path.relative_to(REPO)} imports {module}, which {project.name} does not declare"
                )
    installed = declared | dev
    for module in sorted(_platform_modules() - installed):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        errors.append(f"{module} is importable in {project.name}'s venv but is not declared")
    for line in errors:
        print(f"check_imports: {line}", file=sys.stderr)
    if not errors:
        print(
            f"check_imports: {project.name}: imports match declarations; "
            f"{len(_platform_modules() - installed)} undeclared sibling(s) are not importable"
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
