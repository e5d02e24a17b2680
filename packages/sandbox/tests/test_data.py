from datetime import date

import numpy as np

from dataplat_sandbox import data as d
from dataplat_sandbox.config import SandboxConfig
from dataplat_sandbox.postgres import _table_rows


def _dump(config: SandboxConfig) -> bytes:
    return b"".join("".join(rows).encode() for _, _, rows in _table_rows(d.generate(config)))


def test_same_config_gives_byte_identical_data():
    config = SandboxConfig(seed=3, orders=3_000, days=20)
    assert _dump(config) == _dump(SandboxConfig(seed=3, orders=3_000, days=20))
    assert _dump(config) != _dump(SandboxConfig(seed=4, orders=3_000, days=20))


def test_config_roundtrip_and_validation():
    config = SandboxConfig(seed=1, orders=10, start_date=date(2026, 2, 1), days=3)
    assert SandboxConfig.from_json(config.to_json()) == config
    assert config.customers == 50 and config.products == 40
    try:
        SandboxConfig(orders=0)
    except ValueError:
        pass
    else:
        raise AssertionError("orders=0 accepted")


def test_orders_are_consistent():
    config = SandboxConfig(orders=5_000, days=30)
    data = d.generate(config)
    o, i, c = data.orders, data.items, data.customers
    assert len(o.order_id) == 5_000 and np.all(np.diff(o.order_ts) >= 0)
    assert o.order_ts.min() >= config.start_ts and o.order_ts.max() < config.end_ts
    # Total = lines minus discount, in exact cents.
    sub = np.bincount(i.order_id, weights=i.amount_cents)[1:].astype(np.int64)
    assert np.array_equal(o.total_cents, d.apply_discount(sub, o.discount_pct))
    # Nobody orders before signing up; updated_at never precedes the order.
    assert np.all(c.signup_ts[o.customer_id - 1] <= o.order_ts)
    assert np.all(o.updated_at >= o.order_ts) and np.all(o.updated_at < config.end_ts)
    assert set(np.unique(o.status).tolist()) <= set(range(len(d.ORDER_STATUSES)))


def test_weekly_seasonality():
    config = SandboxConfig(orders=50_000, days=84)
    ts = d.generate(config).orders.order_ts
    dow = (ts // 86_400 + 3) % 7
    per_dow = np.bincount(dow, minlength=7)
    assert per_dow[5:].mean() > 1.15 * per_dow[:4].mean()  # weekends busier than Mon-Thu


def test_refund_signal_is_learnable():
    o = d.generate(SandboxConfig(orders=60_000)).orders

    def rate(mask):
        return o.refunded[mask].mean()

    assert rate(o.channel == d.CHANNELS.index("marketplace")) > 1.8 * rate(
        o.channel == d.CHANNELS.index("web")
    )
    assert rate(o.main_category == d.CATEGORIES.index("fashion")) > 2 * rate(
        o.main_category == d.CATEGORIES.index("books")
    )
    assert rate(o.tenure_days < 30) > rate(o.tenure_days > 365)
    assert rate(o.discount_pct >= 20) > rate(o.discount_pct == 0)
    assert 0.03 < o.refunded.mean() < 0.15
    # The formula's probabilities are calibrated: predicted and observed rates agree.
    assert abs(o.refund_probability[o.status != d.CANCELLED].mean() - o.refunded.mean()) < 0.01


def test_payments_match_orders():
    config = SandboxConfig(orders=4_000)
    o = d.generate_cached(config).orders
    p = d.generate_payments(config)
    assert sorted(p.payments["order_id"].tolist()) == o.order_id.tolist()
    assert set(p.refunds["order_id"].tolist()) == set(o.order_id[o.refunded].tolist())
    assert np.all(p.refunds["amount_cents"] <= p.payments["amount_cents"][p.refunds["payment_id"] - 1])
    assert len(p.events["event_id"]) >= len(p.payments["payment_id"]) + len(p.refunds["refund_id"])
