"""Two differently shaped APIs, each declared in YAML alone (`apis/payments.yaml`, `apis/shipments.yaml`), held to
the same behaviour by the same tests: exact loads under 30% faults of every kind, merge in place and append only
what is new, one request per resource on a run with no change, exact partition windows and backfill ranges.

- payments: bearer token, cursor pagination, `{"data": [...], "next_cursor": ...}`, `*_since`/`*_until`;
- shipments: `X-Api-Key` header, page numbers with `meta.total_pages`, `{"results": [...], "meta": ...}`, a base
  URL with its own path (`/v2`), `modified_after`/`modified_before`, timestamps with a numeric offset.
"""

from datetime import datetime
from urllib.parse import urlsplit

import pytest
from conftest import api_rows, attributes, declared, expected_keys, loaded_keys
from dataplat_sandbox.api_server import FaultConfig
from dataplat_sandbox.payments_api import PaymentsApiServer
from dataplat_sandbox.shipments_api import ShipmentsApiServer

SERVERS = {"payments": PaymentsApiServer, "shipments": ShipmentsApiServer}
# Per API: the simulator's mutation that changes rows of its merge resource, and the one that appends to its
# append-only resource.
CHANGES = {
    "payments": ({"update_payments": 60}, {"add_events": 40}),
    "shipments": ({"update_shipments": 60}, {"add_tracking_events": 40}),
}
DAY6, DAY7, DAY8 = "2026-01-06", "2026-01-07", "2026-01-08"  # days on which both APIs have rows


@pytest.fixture(params=sorted(SERVERS))
def api(request, sandbox_config):
    """Each test runs once per declared API, against its simulator."""
    with SERVERS[request.param](sandbox_config) as server:
        server.declaration = request.param
        yield server


def _resources(api) -> list[dict]:
    return declared(api.declaration)["resources"]


def _of_kind(api, disposition: str) -> dict:
    return next(r for r in _resources(api) if r["write_disposition"] == disposition)


def _served_path(api, resource: dict) -> str:
    return f"{urlsplit(api.url).path}/{resource['endpoint']['path']}"


def _time(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _assert_exact(platform, api) -> None:
    """Every declared table holds exactly the simulator's rows, once; merge tables with their newest version."""
    loaded, expected = (
        loaded_keys(platform.warehouse_path, declared(api.declaration)),
        expected_keys(api, declared(api.declaration)),
    )
    for name, keys in loaded.items():
        assert len(keys) == len(set(keys)), f"{name}: duplicated keys"
        assert set(keys) == expected[name] and keys, name
    merge = _of_kind(api, "merge")
    key, cursor = merge["primary_key"][0], merge["endpoint"]["incremental"]["cursor_path"]
    rows = platform.query(f"select {key}, {cursor} from {platform.component.dataset}.{merge['name']}")
    assert {k: _time(t) for k, t in rows} == {
        r[key]: _time(r[cursor]) for r in api_rows(api, merge["endpoint"]["path"])
    }


def test_thirty_percent_faults_of_every_kind_still_load_exactly_the_right_rows(make_platform, api):
    # 0.3 s read timeout against 1 s 'slow' answers: slow faults become timeouts, which are retried too.
    platform = make_platform(api=api, retry={"backoff_seconds": 0.01, "max_backoff_seconds": 0.1,
                                             "read_timeout_seconds": 0.3, "max_attempts": 15}, page_size=200)  # fmt: skip
    api.set_faults(FaultConfig(rate=0.3, slow_seconds=1.0, seed=11))
    result = platform.run()
    assert result.success
    faulty = api.stats  # before the reference client below adds its own requests
    api.set_faults(FaultConfig(rate=0.0))
    _assert_exact(platform, api)
    # Each asset's metadata counts its own endpoint's requests: what the simulator served at that path,
    # i.e. its pages plus the retries we made (every failed attempt of a successful run was retried).
    mats = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert set(mats) == {r["name"] for r in _resources(api)}
    for resource in _resources(api):
        metadata = mats[resource["name"]]
        requests, retries = metadata["http_requests"].value, metadata["http_retries"].value
        pages = max(1, -(-platform.count(resource["name"]) // 200))  # an empty answer is one page too
        assert requests == faulty["paths"][_served_path(api, resource)] == pages + retries, resource["name"]
        assert sum(metadata["http_failures"].value.values()) == retries, resource["name"]
        assert metadata["dataplat/rows_read"].value == platform.count(resource["name"])
    assert sum(m["http_requests"].value for m in mats.values()) == faulty["total"]
    assert sum(m["http_retries"].value for m in mats.values()) > 0


def test_changes_merge_in_place_and_appends_add_only_what_is_new(make_platform, api):
    platform = make_platform(api=api)
    assert platform.run(checks=True).success
    merge, append = _of_kind(api, "merge")["name"], _of_kind(api, "append")["name"]
    before = {merge: platform.count(merge), append: platform.count(append)}
    update, add = CHANGES[api.declaration]
    changed = api.mutate(update)
    added = api.mutate(add)
    result = platform.run(checks=True)
    assert result.success
    assert platform.count(merge) == before[merge]  # updated in place, not appended
    assert platform.count(append) >= before[append] + len(next(iter(added.values())))
    _assert_exact(platform, api)
    assert next(iter(changed.values()))
    failed = [
        (e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations() if not e.passed
    ]
    assert not [f for f in failed if f[1] != "freshness"], failed  # the sandbox's data is months old


def test_a_run_without_changes_makes_one_request_per_resource_and_loads_nothing(make_platform, api):
    platform = make_platform(api=api)
    assert platform.run().success
    assert api.stats["total"] > 2 * len(_resources(api))  # the first run paged through everything
    api.reset_stats()
    result = platform.run()
    assert result.success
    assert api.stats["paths"] == {_served_path(api, r): 1 for r in _resources(api)}
    replaced = {r["name"] for r in _resources(api) if r["write_disposition"] == "replace"}
    for m in result.get_asset_materialization_events():
        name, metadata = m.materialization.asset_key.path[-1], m.materialization.metadata
        assert metadata["http_requests"].value == 1
        # only a full snapshot writes rows again; the incremental resources found nothing new
        expected = platform.count(name) if name in replaced else 0
        assert metadata["dataplat/rows_loaded"].value == expected, name


def test_one_partition_and_a_backfill_range_load_exactly_their_window(make_platform, api):
    attrs = attributes(api.declaration)
    platform = make_platform(api=api, partition_start="2026-01-01")
    result = platform.run(DAY6, checks=True)
    assert result.success
    counts = {
        e.asset_key.path[-1]: e.metadata["rows"].value
        for e in result.get_asset_check_evaluations()
        if e.check_name == "partition_row_count"
    }
    assert counts == {
        r["name"]: platform.count(r["name"]) for r in _resources(api) if r["write_disposition"] != "replace"
    }
    window = {m.materialization.metadata["window"].value for m in result.get_asset_materialization_events()}
    assert window == {"2026-01-06T00:00:00+00:00 .. 2026-01-07T00:00:00+00:00"}
    loaded, expected = loaded_keys(platform.warehouse_path, attrs), expected_keys(api, attrs, DAY6)
    assert {k: set(v) for k, v in loaded.items()} == expected and all(expected.values())

    result = platform.backfill(DAY6, DAY8)  # one run over three days
    assert result.success
    loaded = loaded_keys(platform.warehouse_path, attrs)
    days = [expected_keys(api, attrs, day) for day in (DAY6, DAY7, DAY8)]
    for name, keys in loaded.items():
        assert len(keys) == len(set(keys)), name
        assert set(keys) == set().union(*(d[name] for d in days)), name
    names = {
        m.materialization.metadata["dlt_pipeline"].value for m in result.get_asset_materialization_events()
    }
    assert names == {f"{platform.component.dataset}__20260106_20260109"}


def test_a_first_partition_whose_window_holds_no_row_succeeds_and_says_so(make_platform, shipments_api):
    """Nothing ships on the first day: dlt creates no table for an empty window, and the load reports 0 rows
    instead of failing on the missing table. The next day with rows creates it."""
    platform = make_platform(api=shipments_api, partition_start="2026-01-01")
    result = platform.run("2026-01-01")
    assert result.success
    for m in result.get_asset_materialization_events():
        metadata = m.materialization.metadata
        assert metadata["dataplat/rows_read"].value == 0 and metadata["dagster/row_count"].value == 0
    assert platform.run(DAY6).success
    assert (
        platform.count("shipments")
        == len(expected_keys(shipments_api, attributes("shipments"), DAY6)["shipments"])
        > 0
    )
