"""Vectorised, deterministic generation of the shop's data (customers, products, orders, payments).

Every table draws from its own numpy Generator seeded with ``[config.seed, stream]`` so that tweaking
one table's generation does not shift the random numbers of the others.
Timestamps are int64 epoch seconds (UTC); money is int64 cents (exact, no float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .config import SandboxConfig

CATEGORIES = ("electronics", "home", "fashion", "beauty", "sports", "books", "toys", "grocery")
CATEGORY_WEIGHT = np.array([0.14, 0.15, 0.2, 0.1, 0.1, 0.11, 0.08, 0.12])
CATEGORY_MEDIAN_EUR = np.array([120.0, 45.0, 40.0, 18.0, 35.0, 14.0, 22.0, 6.0])
# Refund model coefficients; documented in README.md ("Refund model").
CATEGORY_REFUND = np.array([0.5, 0.0, 1.0, 0.2, 0.3, -0.8, 0.1, -0.6])

CHANNELS = ("web", "app", "marketplace", "phone")
CHANNEL_WEIGHT = np.array([0.55, 0.30, 0.10, 0.05])
CHANNEL_REFUND = np.array([0.0, -0.3, 0.9, 0.4])

COUNTRIES = ("DE", "FR", "NL", "GB", "US", "ES", "IT", "PL", "SE", "AT")
COUNTRY_WEIGHT = np.array([0.3, 0.15, 0.08, 0.12, 0.1, 0.07, 0.07, 0.04, 0.03, 0.04])

DISCOUNTS = np.array([0, 5, 10, 15, 20, 30])
DISCOUNT_WEIGHT = np.array([0.68, 0.1, 0.1, 0.06, 0.04, 0.02])

ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "refunded")
PLACED, PAID, SHIPPED, DELIVERED, CANCELLED, REFUNDED = range(6)
# Seconds after order_ts at which an order reaches placed/paid/shipped/delivered.
STATUS_AFTER = np.array([0, 600, 86_400, 3 * 86_400])

PAYMENT_METHODS = ("card", "paypal", "klarna", "apple_pay", "bank_transfer")
PAYMENT_METHOD_NAMES = ("Credit card", "PayPal", "Klarna", "Apple Pay", "Bank transfer")
PAYMENT_METHOD_WEIGHT = np.array([0.55, 0.2, 0.1, 0.1, 0.05])
PAYMENT_STATUSES = ("pending", "succeeded", "canceled", "refunded", "partially_refunded", "failed")
REFUND_REASONS = ("damaged", "not_as_described", "changed_mind", "late_delivery", "wrong_size")
EVENT_TYPES = ("payment.created", "payment.canceled", "refund.created", "payment.updated")

CARRIERS = ("DHL", "UPS", "DPD", "GLS")
SHIPMENT_STATUSES = ("label_created", "in_transit", "delivered", "returned")
HUBS = (
    "Berlin",
    "Paris",
    "Amsterdam",
    "London",
    "Madrid",
    "Milan",
    "Warsaw",
    "Stockholm",
    "Vienna",
    "Chicago",
)

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Klara", "Leon",
    "Mia", "Noah", "Olivia", "Paul", "Rosa", "Sofia", "Tom", "Vera", "Lukas", "Marie", "Elias", "Lea",
)  # fmt: skip
LAST_NAMES = (
    "Muller", "Schmidt", "Martin", "Bernard", "Smith", "Jones", "de Vries", "Jansen", "Garcia", "Rossi",
    "Nowak", "Berg", "Huber", "Weber", "Dubois", "Brown", "Lopez", "Bianchi", "Lind", "Wagner",
)  # fmt: skip
ADJECTIVES = ("Classic", "Smart", "Eco", "Pro", "Mini", "Deluxe", "Basic", "Urban", "Nordic", "Bold")
NOUNS = {
    "electronics": ("Headphones", "Charger", "Speaker", "Camera", "Tablet"),
    "home": ("Lamp", "Pillow", "Vase", "Blanket", "Mug"),
    "fashion": ("Jacket", "Sneakers", "Scarf", "Jeans", "Shirt"),
    "beauty": ("Serum", "Lipstick", "Shampoo", "Cream", "Perfume"),
    "sports": ("Yoga Mat", "Dumbbell", "Bottle", "Racket", "Helmet"),
    "books": ("Novel", "Cookbook", "Atlas", "Biography", "Comic"),
    "toys": ("Puzzle", "Robot", "Doll", "Blocks", "Kite"),
    "grocery": ("Coffee", "Tea", "Chocolate", "Olive Oil", "Honey"),
}

# Relative order volume per weekday (Mon..Sun): weekends are busier.
WEEKDAY_FACTOR = np.array([0.95, 0.9, 0.92, 0.97, 1.05, 1.2, 1.25])
# Relative order volume per hour of day (UTC): quiet nights, evening peak.
HOUR_WEIGHT = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 4, 4, 4.5, 4.5, 4, 4, 4.2, 4.8, 5.5, 6.5, 7, 6, 4, 2]
)

STREAM_CUSTOMERS, STREAM_PRODUCTS, STREAM_ORDERS, STREAM_ITEMS, STREAM_PAYMENTS, STREAM_SHIPMENTS = (
    1,
    2,
    3,
    4,
    5,
    6,
)


def rng_for(config: SandboxConfig, *stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *stream])


def day_weights(config: SandboxConfig) -> np.ndarray:
    """Expected share of orders per day: weekly x monthly (pay-day) seasonality x a slight growth trend."""
    days = np.arange(config.days)
    d64 = np.datetime64(config.start_date, "D") + days
    dow = (d64.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (index 3 with Monday = 0)
    dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    monthly = 1.0 + 0.18 * (dom <= 3) + 0.10 * (dom >= 25) - 0.08 * ((dom >= 12) & (dom <= 20))
    w = WEEKDAY_FACTOR[dow] * monthly * (1.0 + 0.002 * days)
    return w / w.sum()


def refund_probability(channel, category, total_cents, discount_pct, tenure_days) -> np.ndarray:
    """The learnable refund model (see README.md). All arguments are arrays of equal length."""
    total_eur = np.maximum(np.asarray(total_cents, dtype=np.float64) / 100.0, 1.0)
    tenure = np.asarray(tenure_days, dtype=np.float64)
    logit = (
        -3.0
        + CHANNEL_REFUND[channel]
        + CATEGORY_REFUND[category]
        + 0.5 * np.log(total_eur / 50.0)
        + 0.04 * np.asarray(discount_pct, dtype=np.float64)
        + 0.9 * (tenure < 30)
        - 0.25 * np.minimum(tenure, 1095.0) / 365.0
    )
    return 1.0 / (1.0 + np.exp(-logit))


@dataclass(frozen=True)
class Customers:
    customer_id: np.ndarray
    first: np.ndarray  # index into FIRST_NAMES
    last: np.ndarray  # index into LAST_NAMES
    country: np.ndarray  # index into COUNTRIES
    signup_ts: np.ndarray
    updated_at: np.ndarray

    def full_names(self) -> list[str]:
        f, la = np.array(FIRST_NAMES), np.array(LAST_NAMES)
        return [a + " " + b for a, b in zip(f[self.first].tolist(), la[self.last].tolist(), strict=False)]

    def emails(self) -> list[str]:
        f = np.array([s.lower() for s in FIRST_NAMES])
        la = np.array([s.lower().replace(" ", "") for s in LAST_NAMES])
        ids = self.customer_id.tolist()
        return [
            f"{a}.{b}{i}@example.com"
            for a, b, i in zip(f[self.first].tolist(), la[self.last].tolist(), ids, strict=False)
        ]


@dataclass(frozen=True)
class Products:
    product_id: np.ndarray
    category: np.ndarray  # index into CATEGORIES
    price_cents: np.ndarray
    adjective: np.ndarray
    noun: np.ndarray
    popularity: np.ndarray  # sampling weights for order lines (sum to 1)
    updated_at: np.ndarray

    def names(self) -> list[str]:
        cats = [CATEGORIES[c] for c in self.category.tolist()]
        return [
            f"{ADJECTIVES[a]} {NOUNS[c][n]}"
            for a, c, n in zip(self.adjective.tolist(), cats, self.noun.tolist(), strict=False)
        ]

    def skus(self) -> list[str]:
        return [f"SKU-{i:06d}" for i in self.product_id.tolist()]


@dataclass(frozen=True)
class Orders:
    order_id: np.ndarray
    customer_id: np.ndarray
    order_ts: np.ndarray
    status: np.ndarray  # index into ORDER_STATUSES
    channel: np.ndarray  # index into CHANNELS
    discount_pct: np.ndarray
    total_cents: np.ndarray
    updated_at: np.ndarray
    main_category: np.ndarray  # category of line 1 (a model feature, derivable in the warehouse)
    tenure_days: np.ndarray  # days between the customer's signup and the order
    refund_probability: np.ndarray
    refunded: np.ndarray  # bool: the label
    refund_ts: np.ndarray  # 0 where not refunded


@dataclass(frozen=True)
class Items:
    order_id: np.ndarray
    line_no: np.ndarray
    product_id: np.ndarray
    quantity: np.ndarray
    unit_price_cents: np.ndarray
    amount_cents: np.ndarray
    order_ts: np.ndarray
    customer_id: np.ndarray
    updated_at: np.ndarray


@dataclass(frozen=True)
class ShopData:
    config: SandboxConfig
    customers: Customers
    products: Products
    orders: Orders
    items: Items


def make_customers(config: SandboxConfig) -> Customers:
    rng = rng_for(config, STREAM_CUSTOMERS)
    n = config.customers
    before = rng.random(n) < 0.85
    # Most customers signed up in the 3 years before the window, the rest during it.
    offset = np.where(before, -rng.integers(1, 3 * 365 * 86_400, n), rng.integers(0, config.days * 86_400, n))
    signup = np.sort(config.start_ts + offset)
    signup[0] = config.start_ts - 3 * 365 * 86_400  # someone always exists before the first order
    updated = np.minimum(signup + rng.integers(0, 30 * 86_400, n), config.end_ts - 1)
    updated = np.maximum(updated, config.start_ts)  # profile "last touched" inside the window at the earliest
    return Customers(
        customer_id=np.arange(1, n + 1, dtype=np.int64),
        first=rng.integers(0, len(FIRST_NAMES), n),
        last=rng.integers(0, len(LAST_NAMES), n),
        country=rng.choice(len(COUNTRIES), n, p=COUNTRY_WEIGHT),
        signup_ts=signup,
        updated_at=updated,
    )


def make_products(config: SandboxConfig) -> Products:
    rng = rng_for(config, STREAM_PRODUCTS)
    n = config.products
    cat = rng.choice(len(CATEGORIES), n, p=CATEGORY_WEIGHT)
    euros = np.maximum(1.0, np.round(CATEGORY_MEDIAN_EUR[cat] * np.exp(0.5 * rng.standard_normal(n))))
    price = euros.astype(np.int64) * 100 - 1  # psychological pricing: 44.99
    pop = 1.0 / (rng.permutation(n) + 5.0) ** 0.9  # Zipf-like: a few best-sellers
    return Products(
        product_id=np.arange(1, n + 1, dtype=np.int64),
        category=cat,
        price_cents=price,
        adjective=rng.integers(0, len(ADJECTIVES), n),
        noun=rng.integers(0, 5, n),
        popularity=pop / pop.sum(),
        updated_at=config.start_ts - rng.integers(86_400, 365 * 86_400, n),
    )


def make_items(rng: np.random.Generator, order_id, order_ts, customer_id, products: Products):
    """Order lines for the given orders; returns (Items, line-1 index per order, subtotal per order)."""
    n = len(order_id)
    n_lines = 1 + np.minimum(rng.poisson(0.7, n), 5)
    starts = np.concatenate(([0], np.cumsum(n_lines)[:-1]))
    total = int(n_lines.sum())
    owner = np.repeat(np.arange(n), n_lines)
    line_no = np.arange(total) - np.repeat(starts, n_lines) + 1
    prod_idx = rng.choice(len(products.product_id), total, p=products.popularity)
    qty = 1 + (rng.random(total) < 0.25) + (rng.random(total) < 0.08)
    unit = products.price_cents[prod_idx]
    amount = qty * unit
    items = Items(
        order_id=order_id[owner],
        line_no=line_no.astype(np.int64),
        product_id=products.product_id[prod_idx],
        quantity=qty.astype(np.int64),
        unit_price_cents=unit,
        amount_cents=amount,
        order_ts=order_ts[owner],
        customer_id=customer_id[owner],
        updated_at=order_ts[owner],
    )
    subtotal = np.add.reduceat(amount, starts)
    return items, prod_idx[starts], subtotal


def apply_discount(subtotal_cents, discount_pct):
    """Integer half-up rounding; matches PostgreSQL's round(numeric, 2) for positive amounts."""
    return (subtotal_cents * (100 - discount_pct) + 50) // 100


def generate(config: SandboxConfig) -> ShopData:
    customers = make_customers(config)
    products = make_products(config)
    rng = rng_for(config, STREAM_ORDERS)
    n = config.orders

    per_day = rng.multinomial(n, day_weights(config))
    day = np.repeat(np.arange(config.days), per_day)
    hour = rng.choice(24, n, p=HOUR_WEIGHT / HOUR_WEIGHT.sum())
    ts = np.sort(config.start_ts + day * 86_400 + hour * 3600 + rng.integers(0, 3600, n))
    order_id = np.arange(1, n + 1, dtype=np.int64)

    # Only customers who had signed up by then can order; older customers order more (u ** 1.3).
    eligible = np.maximum(np.searchsorted(customers.signup_ts, ts, side="right"), 1)
    cust_idx = np.minimum((eligible * rng.random(n) ** 1.3).astype(np.int64), eligible - 1)
    customer_id = customers.customer_id[cust_idx]
    tenure_days = (ts - customers.signup_ts[cust_idx]) // 86_400

    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_WEIGHT)
    discount = DISCOUNTS[rng.choice(len(DISCOUNTS), n, p=DISCOUNT_WEIGHT)]

    items, main_prod, subtotal = make_items(
        rng_for(config, STREAM_ITEMS), order_id, ts, customer_id, products
    )
    total = apply_discount(subtotal, discount)
    main_category = products.category[main_prod]

    p = refund_probability(channel, main_category, total, discount, tenure_days)
    cancelled = rng.random(n) < 0.025
    refunded = (rng.random(n) < p) & ~cancelled
    age = config.end_ts - ts
    stage = (age >= STATUS_AFTER[1]).astype(np.int64) + (age >= STATUS_AFTER[2]) + (age >= STATUS_AFTER[3])
    refund_ts = np.where(refunded, ts + (rng.random(n) * np.minimum(14 * 86_400, age)).astype(np.int64), 0)
    cancel_ts = ts + np.minimum(rng.integers(60, 86_400, n), age - 1)
    status = np.where(refunded, REFUNDED, np.where(cancelled, CANCELLED, stage))
    updated = np.where(refunded, refund_ts, np.where(cancelled, cancel_ts, ts + STATUS_AFTER[stage]))

    orders = Orders(
        order_id=order_id,
        customer_id=customer_id,
        order_ts=ts,
        status=status,
        channel=channel,
        discount_pct=discount,
        total_cents=total,
        updated_at=np.maximum(updated, ts),
        main_category=main_category,
        tenure_days=tenure_days,
        refund_probability=p,
        refunded=refunded,
        refund_ts=refund_ts,
    )
    return ShopData(config, customers, products, orders, items)


@lru_cache(maxsize=4)
def generate_cached(config: SandboxConfig) -> ShopData:
    """Generation is pure, so the landing writer, loader and API can share one copy per config."""
    return generate(config)


@dataclass(frozen=True)
class PaymentsData:
    """Columns for the payments API; ids are 1-based and the arrays are indexed by id - 1."""

    payments: dict[str, np.ndarray]
    refunds: dict[str, np.ndarray]
    events: dict[str, np.ndarray]


def generate_payments(config: SandboxConfig) -> PaymentsData:
    data = generate_cached(config)
    o = data.orders
    rng = rng_for(config, STREAM_PAYMENTS)
    n = len(o.order_id)
    created = o.order_ts + rng.integers(1, 120, n)
    # Payment ids follow payment creation time, which is not exactly order order: ids differ from order ids.
    perm = np.argsort(created, kind="stable")
    created = created[perm]
    order_id = o.order_id[perm]
    st = o.status[perm]
    refunded = o.refunded[perm]
    age = config.end_ts - o.order_ts[perm]
    partial = refunded & (rng.random(n) < 0.2)
    total = o.total_cents[perm]
    pstatus = np.full(n, PAYMENT_STATUSES.index("succeeded"))
    pstatus[age < STATUS_AFTER[1]] = PAYMENT_STATUSES.index("pending")
    pstatus[st == CANCELLED] = PAYMENT_STATUSES.index("canceled")
    pstatus[refunded] = PAYMENT_STATUSES.index("refunded")
    pstatus[partial] = PAYMENT_STATUSES.index("partially_refunded")
    p_updated = np.where(refunded | (st == CANCELLED), np.maximum(o.updated_at[perm], created), created)
    payment_id = np.arange(1, n + 1, dtype=np.int64)
    payments = {
        "payment_id": payment_id,
        "order_id": order_id,
        "amount_cents": total,
        "method": rng.choice(len(PAYMENT_METHODS), n, p=PAYMENT_METHOD_WEIGHT),
        "status": pstatus,
        "created_at": created,
        "updated_at": p_updated,
    }

    r_idx = np.flatnonzero(refunded)
    r_created = np.maximum(o.refund_ts[perm][r_idx], created[r_idx])
    r_order = np.argsort(r_created, kind="stable")
    r_idx, r_created = r_idx[r_order], r_created[r_order]
    frac = np.where(partial[r_idx], rng.uniform(0.3, 0.7, len(r_idx)), 1.0)
    r_amount = np.maximum(1, np.round(total[r_idx] * frac)).astype(np.int64)
    refunds = {
        "refund_id": np.arange(1, len(r_idx) + 1, dtype=np.int64),
        "payment_id": payment_id[r_idx],
        "order_id": order_id[r_idx],
        "amount_cents": r_amount,
        "reason": rng.choice(len(REFUND_REASONS), len(r_idx)),
        "created_at": r_created,
        "updated_at": r_created,
    }

    c_idx = np.flatnonzero(st == CANCELLED)
    ev_type = np.concatenate(
        [np.zeros(n, np.int64), np.ones(len(c_idx), np.int64), np.full(len(r_idx), 2, np.int64)]
    )
    ev_obj = np.concatenate([payment_id, payment_id[c_idx], refunds["refund_id"]])
    ev_ts = np.concatenate([created, p_updated[c_idx], r_created])
    ev_order = np.lexsort((ev_obj, ev_type, ev_ts))
    events = {
        "event_id": np.arange(1, len(ev_ts) + 1, dtype=np.int64),
        "type": ev_type[ev_order],
        "object_id": ev_obj[ev_order],
        "created_at": ev_ts[ev_order],
    }
    return PaymentsData(payments, refunds, events)


@dataclass(frozen=True)
class ShipmentsData:
    """Columns for the carrier's API: one shipment per order that left the warehouse, and its tracking scans."""

    shipments: dict[str, np.ndarray]
    tracking_events: dict[str, np.ndarray]


def generate_shipments(config: SandboxConfig) -> ShipmentsData:
    """Orders ship a day after they are placed and arrive two days later; cancelled orders never ship."""
    o = generate_cached(config).orders
    rng = rng_for(config, STREAM_SHIPMENTS)
    shipped_at = o.order_ts + STATUS_AFTER[2] + rng.integers(0, 3600, len(o.order_id))
    sent = np.flatnonzero((o.status != CANCELLED) & (shipped_at < config.end_ts))
    sent = sent[np.argsort(shipped_at[sent], kind="stable")]  # ids follow shipping time
    n = len(sent)
    shipped_at = shipped_at[sent]
    delivered_at = shipped_at + 2 * 86_400 + rng.integers(0, 86_400, n)
    delivered = delivered_at < config.end_ts
    shipment_id = np.arange(1, n + 1, dtype=np.int64)
    shipments = {
        "shipment_id": shipment_id,
        "order_id": o.order_id[sent],
        "carrier": rng.choice(len(CARRIERS), n),
        "status": np.where(
            delivered, SHIPMENT_STATUSES.index("delivered"), SHIPMENT_STATUSES.index("in_transit")
        ),
        "weight_grams": rng.integers(100, 20_000, n),
        "shipped_at": shipped_at,
        "last_modified": np.where(delivered, delivered_at, shipped_at),
    }
    # Scans: label created an hour before pick-up, picked up (in transit), delivered where it arrived.
    d_idx = np.flatnonzero(delivered)
    ev_shipment = np.concatenate([shipment_id, shipment_id, shipment_id[d_idx]])
    ev_status = np.concatenate(
        [np.zeros(n, np.int64), np.ones(n, np.int64), np.full(len(d_idx), 2, np.int64)]
    )
    ev_ts = np.concatenate([shipped_at - 3600, shipped_at, delivered_at[d_idx]])
    order = np.lexsort((ev_status, ev_shipment, ev_ts))
    tracking_events = {
        "event_id": np.arange(1, len(ev_ts) + 1, dtype=np.int64),
        "shipment_id": ev_shipment[order],
        "status": ev_status[order],
        "hub": rng.choice(len(HUBS), len(ev_ts)),
        "occurred_at": ev_ts[order],
    }
    return ShipmentsData(shipments, tracking_events)


# --- fast text formatting shared by the PostgreSQL COPY and the CSV writers ---------------------------

_CENTS = np.array([f"{i:02d}" for i in range(100)])


def fmt_int(a: np.ndarray) -> list[str]:
    return a.astype(str).tolist()


def fmt_money(cents: np.ndarray) -> list[str]:
    # Lookup table for the fractional part beats any per-row f-string.
    whole = (cents // 100).astype(str)
    return [w + "." + c for w, c in zip(whole.tolist(), _CENTS[cents % 100].tolist(), strict=False)]


def fmt_ts(ts: np.ndarray) -> list[str]:
    """ISO 8601 UTC, e.g. 2026-01-01T10:11:12Z (PostgreSQL and any CSV reader parse it)."""
    s = np.datetime_as_string(ts.astype("datetime64[s]"), unit="s")
    return [x + "Z" for x in s.tolist()]


def fmt_date(ts: np.ndarray) -> list[str]:
    return np.datetime_as_string(ts.astype("datetime64[s]").astype("datetime64[D]"), unit="D").tolist()


def join_rows(columns: list[list[str]], sep: str) -> str:
    return "".join([sep.join(row) + "\n" for row in zip(*columns, strict=False)])
