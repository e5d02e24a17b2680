"""Sandbox configuration: everything that determines the generated data."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class SandboxConfig:
    """Seed and size of the fake shop. Same config => byte-identical data.

    Customers and products are derived from ``orders`` so one knob scales everything.
    """

    seed: int = 7
    orders: int = 20_000
    start_date: date = date(2026, 1, 1)
    days: int = 90

    def __post_init__(self) -> None:
        if self.orders < 1:
            raise ValueError("orders must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")

    @property
    def customers(self) -> int:
        # Roughly 8 orders per customer over the window, with a floor so tiny configs still have variety.
        return max(50, self.orders // 8)

    @property
    def products(self) -> int:
        return min(5_000, max(40, self.orders // 100))

    @property
    def start_ts(self) -> int:
        """Window start as epoch seconds (UTC midnight)."""
        return int(datetime.combine(self.start_date, datetime.min.time(), UTC).timestamp())

    @property
    def end_ts(self) -> int:
        """Window end (exclusive) as epoch seconds; the data is 'as of' this instant."""
        return self.start_ts + self.days * 86_400

    def to_json(self) -> str:
        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SandboxConfig:
        d = json.loads(text)
        d["start_date"] = date.fromisoformat(d["start_date"])
        return cls(**d)
