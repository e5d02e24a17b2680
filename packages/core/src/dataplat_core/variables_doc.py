"""The variable table of a code location in docs/environments.md, generated from the code.

    python -m dataplat_core.variables_doc deployments/local/ingestion docs/environments.md

rewrites the block between `<!-- variables:<location> -->` and `<!-- /variables:<location> -->` from what the
location reads: core's variables (both warehouses'), those of the resources its installed packages provide
(`variables.provided`) and those its composition's own resources name (`definitions.declared_variables`), with
each environment's defaults (local built in, every other one from `deployments/<env>/platform.yaml`). Each local
deployment's tests fail when the block differs from what this writes.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from dataplat_core.composition import Deployment
from dataplat_core.environment import (
    LOCAL_SPEC,
    PLATFORM_FILE,
    PLATFORM_VARIABLES,
    WAREHOUSE_VARIABLES,
    EnvironmentSpec,
)
from dataplat_core.variables import Variable, provided

CORE = "dataplat-core"
COMPOSITION = "the composition"


def readers(deployment: Deployment) -> list[tuple[str, Variable]]:
    """`(who reads it, variable)` for every variable the deployment's location reads, in any environment."""
    from dataplat_core.definitions import declared_variables

    rows = [(CORE, v) for variables in WAREHOUSE_VARIABLES.values() for v in variables]
    rows += [(CORE, v) for v in PLATFORM_VARIABLES]
    rows += [(r.package, v) for r in provided().values() for v in r.variables]
    rows += [(COMPOSITION, v) for v in declared_variables(deployment.build_defs())]
    first: dict[str, tuple[str, Variable]] = {}
    for who, variable in rows:
        first.setdefault(variable.name, (who, variable))
    return list(first.values())


def environments(deployment: Deployment) -> list[EnvironmentSpec]:
    """Local, then every environment folder beside the deployment's own (`deployments/<env>/platform.yaml`)."""
    folders = sorted(p.parent for p in deployment.root.parent.parent.glob(f"*/{PLATFORM_FILE}"))
    return [LOCAL_SPEC, *(EnvironmentSpec.read(folder) for folder in folders)]


def _cell(variable: Variable, spec: EnvironmentSpec) -> str:
    other_warehouses = (v for w, vs in WAREHOUSE_VARIABLES.items() if w != spec.warehouse for v in vs)
    if variable in other_warehouses:
        return "—"
    default = spec.default(variable)
    if default is not None:
        return f"default `{default}`"
    return "secret" if variable.secret else "required" if variable.required else "optional"


def table(rows: Sequence[tuple[str, Variable]], specs: Sequence[EnvironmentSpec]) -> str:
    head = ["variable", "read by", *(s.name for s in specs), "what it is"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for who, v in rows:
        cells = [f"`{v.name}`", who, *(_cell(v, s) for s in specs), v.description.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def location_table(deployment_folder: Path) -> tuple[str, str]:
    """`(location name, its table)`."""
    deployment = Deployment.at(Path(deployment_folder).resolve())
    return deployment.composition.name, table(readers(deployment), environments(deployment))


def _markers(location: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- variables:{re.escape(location)} -->\n)(.*?)(<!-- /variables:{re.escape(location)} -->)", re.S
    )


def documented(markdown: str, location: str) -> str | None:
    """The block the document holds for `location`, or None without its markers."""
    match = _markers(location).search(markdown)
    return match[2] if match else None


def stale(deployment_folder: Path, document: Path) -> str | None:
    """None when `document` holds the location's table as the code declares it, else what differs and the fix."""
    location, generated = location_table(deployment_folder)
    held = documented(Path(document).read_text(), location)
    if held == generated:
        return None
    where = "has no block for it" if held is None else "differs from the code"
    return (
        f"{document}: the {location} location's variable table {where}; run `python -m dataplat_core.variables_doc "
        f"{deployment_folder} {document}` in that deployment's venv:\n{generated}"
    )


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    deployment_folder, document = (Path(a) for a in argv)
    with warnings.catch_warnings():  # Dagster's beta/preview notes on loading the composition, not ours
        warnings.simplefilter("ignore")
        location, generated = location_table(deployment_folder)
    text = document.read_text()
    if documented(text, location) is None:
        raise SystemExit(
            f"{document}: no <!-- variables:{location} --> ... <!-- /variables:{location} --> block"
        )
    document.write_text(_markers(location).sub(lambda m: m[1] + generated + m[3], text))
    print(f"{document}: the {location} location's variables rewritten")


if __name__ == "__main__":
    main()
