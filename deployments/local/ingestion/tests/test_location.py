"""The local ingestion code location: loads, validates, and materializes against the real sandbox."""

import re
from pathlib import Path

import dagster as dg
import pytest
from dataplat_core.environment import MissingEnvironmentVariables
from dataplat_core.runner import load_definitions, materialize_all
from dataplat_core.standards import asset_standard_problems

MODULE = "dataplat_local_ingestion.definitions"
DEPLOYMENT = Path(__file__).resolve().parents[1]
DOCS = DEPLOYMENT.parents[2] / "docs" / "environments.md"


def test_definitions_load_and_validate(platform_env):
    defs = load_definitions(MODULE)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().materializable_asset_keys}
    assert {"raw_shop/customers", "raw_shop/products", "raw_shop/orders", "raw_shop/order_items"} <= keys


def test_the_local_values_reach_the_composition(platform_env):
    """`environment.yaml` ends the sales partitions where the sandbox's 90 days of files end; the composition's
    default is open-ended (prod: `test_prod_without_cluster.py`)."""
    graph = load_definitions(MODULE).resolve_asset_graph()
    days = graph.get(dg.AssetKey(["raw_files", "sales"])).partitions_def.get_partition_keys()
    assert (days[0], days[-1], len(days)) == ("2026-01-01", "2026-03-31", 90)


def test_every_asset_has_owners_description_kinds_tags_yaml_link_and_its_tiers_checks(platform_env):
    """The UI explains each asset: dataplat_core.standards (owners, description, kinds, domain and tier tags,
    a link to the YAML that declares it, and the checks its tier requires)."""
    assert asset_standard_problems(load_definitions(MODULE)) == []


def test_missing_environment_names_every_variable(monkeypatch):
    """snowflake_ingestion's provided resources' variables and those the composition's API connections name
    (`RestApiConnectionComponent`), in one message when the location loads, not one by one at run time."""
    sources = {
        "SOURCE_PG_PORT", "SOURCE_PG_PASSWORD", "LANDING_URL",
        "PAYMENTS_API_URL", "PAYMENTS_API_TOKEN", "SHIPMENTS_API_URL", "SHIPMENTS_API_KEY",
    }  # fmt: skip
    for name in sources:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLATFORM_ENV", "local")
    with pytest.raises(MissingEnvironmentVariables) as info:
        load_definitions(MODULE)
    assert set(info.value.missing) == sources


def test_the_variable_table_in_the_docs_is_the_one_the_code_declares():
    """docs/environments.md's table for this location is generated (`dataplat_core.variables_doc`)."""
    from dataplat_core.variables_doc import stale

    assert stale(DEPLOYMENT, DOCS) is None


def test_every_environment_default_names_a_variable_some_location_reads():
    """A default in a `platform.yaml` for a variable nobody reads is a typo (core cannot tell: which variables
    exist depends on the packages each location installs). Both locations' tables are in the docs."""
    import yaml
    from dataplat_core.variables_doc import documented

    text = DOCS.read_text()
    read = {
        name
        for location in ("ingestion", "analytics")
        for name in re.findall(r"^\| `([A-Z0-9_]+)` \|", documented(text, location) or "", re.M)
    }
    for platform in sorted(DEPLOYMENT.parents[1].glob("*/platform.yaml")):
        defaults = yaml.safe_load(platform.read_text()).get("defaults") or {}
        assert set(defaults) <= read, f"{platform}: defaults for variables no location reads"


def test_whole_location_materializes_with_passing_checks(platform_env, sandbox_config):
    defs = load_definitions(MODULE)
    first_day = sandbox_config.start_date.isoformat()
    with dg.DagsterInstance.ephemeral() as instance:
        outcomes = materialize_all(defs, instance, "ingestion", partition_window=(first_day, first_day))
    failed = [(o.asset, o.status, o.failed_checks) for o in outcomes if not o.ok]
    assert not failed
    # The sandbox's data is dated 2026-01..03 on purpose (deterministic): only freshness may warn.
    assert {name for o in outcomes for name in o.warned_checks} <= {"freshness"}
    assert all(o.rows for o in outcomes if o.asset.startswith("raw_shop/"))
    # Both APIs, each declared in YAML alone (the shipments API with its connection), load rows.
    loaded = {o.asset: o.rows for o in outcomes if o.asset.startswith(("payments_api/", "shipments_api/"))}
    assert {"payments_api/payments", "shipments_api/shipments", "shipments_api/tracking_events"} <= set(
        loaded
    )
    assert loaded["shipments_api/shipments"] and loaded["shipments_api/tracking_events"], loaded
