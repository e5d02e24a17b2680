"""The asset standard names exactly what an asset lacks (the deployments' location tests rely on it)."""

from pathlib import Path

import dagster as dg
from dataplat_core.standards import asset_standard_problems


def _spec(key: str, **kwargs) -> dg.AssetSpec:
    return dg.AssetSpec(key, **kwargs)


def test_an_asset_that_carries_the_standard_has_no_problem_and_a_bare_one_lists_each_gap(tmp_path):
    declared = tmp_path / "defs.yaml"
    declared.write_text("type: x\n")
    reference = dg.CodeReferencesMetadataValue(
        code_references=[dg.LocalFileCodeReference(file_path=str(declared), line_number=1)]
    )
    good = _spec(
        "marts/good".split("/"),
        owners=["team:analytics"],
        description="A mart.",
        kinds={"sql"},
        tags={"domain": "shop", "tier": "mart"},
        metadata={"dagster/code_references": reference},
    )
    checks = [
        dg.AssetCheckSpec(name, asset=good.key)
        for name in ("primary_key_unique", "keys_not_null", "row_count", "freshness")
    ]

    @dg.multi_asset_check(specs=checks)
    def good_checks():
        yield from ()

    python_only = dg.CodeReferencesMetadataValue(
        code_references=[dg.LocalFileCodeReference(file_path=str(Path(__file__)), line_number=1)]
    )
    bare = _spec(["raw", "bare"], tags={"tier": "raw"}, metadata={"dagster/code_references": python_only})

    @dg.multi_asset(specs=[good, bare])
    def both():
        yield from ()

    defs = dg.Definitions(assets=[both], asset_checks=[good_checks])
    assert asset_standard_problems(defs) == [
        "raw/bare: no owners",
        "raw/bare: no description",
        "raw/bare: no kinds",
        "raw/bare: no tag domain",
        "raw/bare: no code reference to its YAML file",
        "raw/bare: no checks column_schema_change, freshness, keys_not_null, primary_key_unique, row_count",
    ]


def test_a_file_feeds_schema_drift_check_stands_for_the_column_schema_change_check(tmp_path):
    declared = tmp_path / "defs.yaml"
    declared.write_text("type: x\n")
    raw = _spec(
        ["raw", "files"],
        owners=["team:ingestion"],
        description="Daily files.",
        kinds={"csv"},
        tags={"domain": "sales", "tier": "raw"},
        metadata={
            "dagster/code_references": dg.CodeReferencesMetadataValue(
                code_references=[dg.LocalFileCodeReference(file_path=str(declared), line_number=1)]
            )
        },
    )
    names = ["primary_key_unique", "keys_not_null", "row_count", "freshness"]

    def problems(extra: str) -> list[str]:
        @dg.multi_asset(
            specs=[raw], check_specs=[dg.AssetCheckSpec(n, asset=raw.key) for n in [*names, extra]]
        )
        def files():
            yield from ()

        return asset_standard_problems(dg.Definitions(assets=[files]))

    assert problems("schema_drift") == []
    assert problems("completeness") == ["raw/files: no checks column_schema_change"]
