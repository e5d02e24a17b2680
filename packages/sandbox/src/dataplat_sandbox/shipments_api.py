"""A shipping carrier's API, shaped unlike the payments API on purpose:

- base URL with its own path: `<root>/v2`;
- an API key in the `X-Api-Key` header (not a bearer token);
- page-number pagination: `?page=1..` and `per_page` (up to 500), the envelope
  `{"results": [...], "meta": {"page": 1, "per_page": 50, "total_pages": 4, "total_count": 180}}`;
- `/v2/shipments` filtered by `modified_after`/`modified_before` on `last_modified`, `/v2/tracking_events` by
  `occurred_after`/`occurred_before` on `occurred_at` (after inclusive, before exclusive);
- timestamps with a numeric offset (`2026-01-05T10:00:00+00:00`), weights in kilograms.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import urllib.parse
import urllib.request

import numpy as np

from . import data as d
from .api_server import ApiError, SimulatedApi, Table, int_param, render_rows
from .config import SandboxConfig

DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 500
AUTH_HEADER = "X-Api-Key"
MUTATION_STREAM = 600

_CARRIERS = np.array(d.CARRIERS, dtype=object)
_STATUSES = np.array(d.SHIPMENT_STATUSES, dtype=object)
_HUBS = np.array(d.HUBS, dtype=object)


def _ts(values: np.ndarray) -> list[str]:
    return [x[:-1] + "+00:00" for x in d.fmt_ts(values)]


def _render_shipments(c, idx) -> list[dict]:
    keys = (
        "id",
        "order_ref",
        "carrier",
        "tracking_number",
        "status",
        "weight_kg",
        "shipped_at",
        "last_modified",
    )
    ids = c["shipment_id"][idx]
    carriers = _CARRIERS[c["carrier"][idx]].tolist()
    cols = (ids.tolist(), [f"ORD-{i}" for i in c["order_id"][idx].tolist()], carriers,
            [f"{carrier}{i:010d}" for carrier, i in zip(carriers, ids.tolist(), strict=True)],
            _STATUSES[c["status"][idx]].tolist(), (c["weight_grams"][idx] / 1000).tolist(),
            _ts(c["shipped_at"][idx]), _ts(c["last_modified"][idx]))  # fmt: skip
    return render_rows(keys, cols)


def _render_tracking_events(c, idx) -> list[dict]:
    keys = ("event_id", "shipment_id", "status", "hub", "occurred_at")
    cols = (c["event_id"][idx].tolist(), c["shipment_id"][idx].tolist(), _STATUSES[c["status"][idx]].tolist(),
            _HUBS[c["hub"][idx]].tolist(), _ts(c["occurred_at"][idx]))  # fmt: skip
    return render_rows(keys, cols)


class ShipmentsApiServer(SimulatedApi):
    """Serves `/v2/shipments` and `/v2/tracking_events` derived from `config` (one shipment per shipped order)."""

    name = "shipments-api"
    base_path = "/v2"

    def __init__(self, config: SandboxConfig, *, api_key: str | None = None, **server) -> None:
        super().__init__(config, **server)
        self.api_key = api_key or secrets.token_urlsafe(24)
        data = d.generate_shipments(config)
        self.tables = {
            "/v2/shipments": Table("shipment_id", "last_modified", "modified_after", "modified_before",
                                   data.shipments, _render_shipments),
            "/v2/tracking_events": Table("event_id", "occurred_at", "occurred_after", "occurred_before",
                                         data.tracking_events, _render_tracking_events),
        }  # fmt: skip
        self._start_clock()

    def authorize(self, headers) -> None:
        key = headers.get(AUTH_HEADER, "")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise ApiError(401, f"missing or invalid {AUTH_HEADER} header")

    def page(self, table: Table, params: dict) -> dict:
        cols, order, sorted_ts, _ = table.snapshot
        per_page = int_param(params, "per_page", DEFAULT_PER_PAGE)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ApiError(400, f"per_page must be between 1 and {MAX_PER_PAGE}")
        page = int_param(params, "page", 1)
        if page < 1:
            raise ApiError(400, "page starts at 1")
        lo, hi = table.bounds(params, sorted_ts)
        start = min(hi, lo + (page - 1) * per_page)
        end = min(hi, start + per_page)
        rows = table.render(cols, order[start:end]) if end > start else []
        total = hi - lo
        meta = {"page": page, "per_page": per_page, "total_pages": math.ceil(total / per_page),
                "total_count": total}  # fmt: skip
        return {"results": rows, "meta": meta}

    # --- mutations (deterministic given the sequence of calls) ----------------------------------------

    def mutations(self) -> dict:
        return {"update_shipments": self.update_shipments, "add_tracking_events": self.add_tracking_events}

    def update_shipments(self, n: int) -> list[int]:
        """n shipments change: one in transit is delivered, one delivered comes back (returned); each gets a
        new `last_modified` and a tracking event with its new status. Returns their ids."""
        with self._lock:
            ts, rng = self._tick(MUTATION_STREAM)
            t = self.tables["/v2/shipments"]
            cols = {k: v.copy() for k, v in t.snapshot[0].items()}
            pick = np.sort(
                rng.choice(len(cols["shipment_id"]), min(n, len(cols["shipment_id"])), replace=False)
            )
            in_transit = cols["status"][pick] == d.SHIPMENT_STATUSES.index("in_transit")
            cols["status"][pick] = np.where(
                in_transit, d.SHIPMENT_STATUSES.index("delivered"), d.SHIPMENT_STATUSES.index("returned")
            )
            cols["last_modified"][pick] = ts
            t.replace(cols)
            ids = cols["shipment_id"][pick]
            self._append_events(ids, cols["status"][pick], ts, rng)
            return ids.tolist()

    def add_tracking_events(self, n: int) -> list[int]:
        """n in-transit scans for random shipments; returns the new event ids."""
        with self._lock:
            ts, rng = self._tick(MUTATION_STREAM)
            ids = self.tables["/v2/shipments"].snapshot[0]["shipment_id"]
            shipments = ids[rng.integers(0, len(ids), n)]
            status = np.full(n, d.SHIPMENT_STATUSES.index("in_transit"))
            return self._append_events(shipments, status, ts, rng).tolist()

    def _append_events(self, shipments: np.ndarray, status: np.ndarray, ts: int, rng) -> np.ndarray:
        t = self.tables["/v2/tracking_events"]
        c = t.snapshot[0]
        first = int(c["event_id"].max()) + 1 if len(c["event_id"]) else 1
        new = {
            "event_id": np.arange(first, first + len(shipments), dtype=np.int64),
            "shipment_id": shipments.astype(np.int64),
            "status": status.astype(c["status"].dtype),
            "hub": rng.choice(len(d.HUBS), len(shipments)).astype(c["hub"].dtype),
            "occurred_at": np.full(len(shipments), ts, dtype=np.int64),
        }
        t.replace({k: np.concatenate([c[k], new[k]]) for k in c})
        return new["event_id"]


def fetch_all_shipments(url: str, api_key: str, path: str, **params: str) -> list[dict]:
    """Every row of one endpoint, page by page as a client would (tests use it as the expected data)."""
    rows: list[dict] = []
    page = 1
    while True:
        query = urllib.parse.urlencode({"per_page": MAX_PER_PAGE, **params, "page": page})
        request = urllib.request.Request(f"{url}/{path.strip('/')}?{query}", headers={AUTH_HEADER: api_key})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        rows += body["results"]
        if page >= body["meta"]["total_pages"]:
            return rows
        page += 1
