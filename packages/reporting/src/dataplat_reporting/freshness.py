"""Freshness of a mart, declared in YAML: how recent its materialization must be, and how recent its data."""

from datetime import timedelta

import dagster as dg
from dataplat_core.checks import TableCheck, freshness_check
from pydantic import field_validator


class MartFreshness(dg.Model, dg.Resolvable):
    """`max_lag_hours`: Dagster freshness policy, i.e. the last materialization is at most this old.
    `column` (optional): a timestamp column of the mart; adds the core's `freshness` check, which warns when
    max(column) is older than `max_data_age_hours` (default: `max_lag_hours`)."""

    # Positive, checked by a validator and not `Field(gt=0)`: Dagster copies a field's constraints into the
    # schema that also accepts a `{{ template }}` string, and `gt` fails on the string before it is rendered.
    max_lag_hours: float = 26
    column: str | None = None
    max_data_age_hours: float | None = None

    @field_validator("max_lag_hours", "max_data_age_hours")
    @classmethod
    def _positive(cls, hours: float | None) -> float | None:
        if hours is not None and hours <= 0:
            raise ValueError(f"must be a positive number of hours, got {hours}")
        return hours

    def policy(self) -> dg.FreshnessPolicy:
        return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=self.max_lag_hours))

    def checks(self, key: dg.AssetKey, table: str) -> list[TableCheck]:
        if not self.column:
            return []
        max_age = timedelta(hours=self.max_data_age_hours or self.max_lag_hours)
        return [freshness_check(key, table, self.column, max_age)]
