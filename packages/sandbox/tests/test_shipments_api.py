"""The shipping carrier's API over real HTTP: API key, page numbers, its envelope and filters, faults, mutations."""

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest

from dataplat_sandbox import data as d
from dataplat_sandbox.api_server import FaultConfig
from dataplat_sandbox.shipments_api import MAX_PER_PAGE, fetch_all_shipments


class Response:
    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def request(url, *, headers=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, exc.headers, exc.read())


def get(api, path, *, key=None, **params):
    headers = {"X-Api-Key": api.api_key if key is None else key}
    return request(f"{api.url}/{path}?{urllib.parse.urlencode(params)}", headers=headers)


def test_the_api_key_is_required(shipments_api):
    assert get(shipments_api, "shipments", key="").status_code == 401
    assert get(shipments_api, "shipments", key="wrong").status_code == 401
    response = request(
        f"{shipments_api.url}/shipments", headers={"Authorization": f"Bearer {shipments_api.api_key}"}
    )
    assert response.status_code == 401  # a bearer token is not this API's scheme
    assert get(shipments_api, "shipments").status_code == 200
    assert get(shipments_api, "nope").status_code == 404


def test_pages_return_every_shipment_once_in_time_order(shipments_api, sandbox_config):
    expected = d.generate_shipments(sandbox_config).shipments
    rows = []
    page = get(shipments_api, "shipments", per_page=77).json()
    total_pages = page["meta"]["total_pages"]
    for n in range(1, total_pages + 1):
        body = get(shipments_api, "shipments", per_page=77, page=n).json()
        assert body["meta"] == {"page": n, "per_page": 77, "total_pages": total_pages,
                                "total_count": len(expected["shipment_id"])}  # fmt: skip
        rows += body["results"]
    assert sorted(r["id"] for r in rows) == expected["shipment_id"].tolist()
    stamps = [(r["last_modified"], r["id"]) for r in rows]
    assert stamps == sorted(stamps)
    assert rows[0]["last_modified"].endswith("+00:00") and rows[0]["tracking_number"].startswith(
        rows[0]["carrier"]
    )
    # past the last page: an empty page, not an error
    beyond = get(shipments_api, "shipments", per_page=77, page=total_pages + 1).json()
    assert beyond["results"] == [] and beyond["meta"]["total_pages"] == total_pages


def test_filters_match_brute_force(shipments_api):
    everything = fetch_all_shipments(shipments_api.url, shipments_api.api_key, "tracking_events")
    since, until = "2026-01-05T00:00:00Z", "2026-01-07T12:00:00+00:00"
    window = fetch_all_shipments(
        shipments_api.url,
        shipments_api.api_key,
        "tracking_events",
        occurred_after=since,
        occurred_before=until,
    )

    def at(row):
        return datetime.fromisoformat(row["occurred_at"])

    lo, hi = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 7, 12, tzinfo=UTC)
    assert window == [r for r in everything if lo <= at(r) < hi] and window


@pytest.mark.parametrize(
    "params",
    [{"per_page": MAX_PER_PAGE + 1}, {"per_page": "x"}, {"page": 0}, {"modified_after": "yesterday"}],
)
def test_bad_parameters_are_refused(shipments_api, params):
    response = get(shipments_api, "shipments", **params)
    assert response.status_code == 400 and response.json()["error"]


def test_updates_and_new_events_come_after_everything_else(shipments_api):
    before = fetch_all_shipments(shipments_api.url, shipments_api.api_key, "shipments")
    newest = max(r["last_modified"] for r in before)
    response = request(
        f"{shipments_api.root}/_admin/mutate", body={"update_shipments": 5, "add_tracking_events": 3}
    )
    assert response.status_code == 200
    changed = response.json()["update_shipments"]
    after = fetch_all_shipments(shipments_api.url, shipments_api.api_key, "shipments", modified_after=newest)
    assert sorted(r["id"] for r in after if r["last_modified"] > newest) == sorted(changed)
    assert {r["status"] for r in after if r["id"] in changed} <= {"delivered", "returned"}
    events = fetch_all_shipments(
        shipments_api.url, shipments_api.api_key, "tracking_events", occurred_after=newest
    )
    assert len([e for e in events if e["occurred_at"] > newest]) == 5 + 3


def test_injected_faults_are_served(shipments_api):
    shipments_api.set_faults(FaultConfig(rate=1.0, kinds=("503",)))
    response = get(shipments_api, "shipments")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    shipments_api.set_faults(FaultConfig(rate=0.0))
    assert get(shipments_api, "shipments").status_code == 200
    assert shipments_api.stats["paths"] == {"/v2/shipments": 2}
