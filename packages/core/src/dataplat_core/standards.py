"""What every asset a code location ships carries, so that its page in the UI explains it.

Every materializable asset: owners (a team, declared in the deployment's YAML), a description, kinds, the
tags `domain` and `tier`, and a code reference to the YAML file that declares it. A table's checks depend on
its tier: an ingested (`raw`) table has key, not-null, row count, freshness and column schema change checks;
a `mart` has the same but schema change (its columns are its SQL's). A file feed's `schema_drift` check (the
file's columns against the declaration, before publishing) stands for the schema change check.
`asset_standard_problems(defs)` lists what each asset lacks; every deployment's location test asserts that it
lists nothing.
"""

from collections import defaultdict
from pathlib import Path

import dagster as dg

DOMAIN_TAG, TIER_TAG = "domain", "tier"
TABLE_CHECKS = frozenset({"primary_key_unique", "keys_not_null", "row_count", "freshness"})
REQUIRED_CHECKS: dict[str, frozenset[str]] = {
    "raw": TABLE_CHECKS | {"column_schema_change"},
    "mart": TABLE_CHECKS,
}
# A check that does the required one's job in another way.
STANDS_FOR = {"column_schema_change": frozenset({"schema_drift"})}


def _yaml_references(metadata) -> list[str]:
    references = metadata.get("dagster/code_references")
    found = []
    for ref in getattr(references, "code_references", None) or []:
        path = getattr(ref, "file_path", "")
        if path.endswith((".yaml", ".yml")) and Path(path).is_file():
            found.append(path)
    return found


def asset_standard_problems(defs: dg.Definitions) -> list[str]:
    """One line per missing piece, `<asset>: <what is missing>`; empty when every asset carries the standard."""
    graph = defs.resolve_asset_graph()
    checks: dict[dg.AssetKey, set[str]] = defaultdict(set)
    for check_key in graph.asset_check_keys:
        checks[check_key.asset_key].add(check_key.name)
    problems = []
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        node, name = graph.get(key), key.to_user_string()
        missing = [
            label
            for label, present in (
                ("owners", node.owners),
                ("description", (node.description or "").strip()),
                ("kinds", node.kinds),
                (f"tag {DOMAIN_TAG}", node.tags.get(DOMAIN_TAG)),
                (f"tag {TIER_TAG}", node.tags.get(TIER_TAG)),
                ("code reference to its YAML file", _yaml_references(node.metadata)),
            )
            if not present
        ]
        lacking = {
            name
            for name in REQUIRED_CHECKS.get(node.tags.get(TIER_TAG, ""), frozenset())
            if not ({name} | STANDS_FOR.get(name, frozenset())) & checks[key]
        }
        if lacking:
            missing.append(f"checks {', '.join(sorted(lacking))}")
        problems += [f"{name}: no {what}" for what in missing]
    return problems
