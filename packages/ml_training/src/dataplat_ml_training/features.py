"""The feature table: one declared SELECT (a `.sql` file beside the model's defs.yaml) materialized in the
warehouse, and the roles of its columns.

The SQL names its upstream tables as `$name`, each one of the component's declared `sources` (so the same file
reads other tables in another environment, and the component knows their asset keys); it must be portable
between DuckDB and Snowflake if both run it (`datediff`, `case`, `cast`; no `FILTER`, no `::`). Its columns have
declared roles (`FeatureRoles`): one key, one time column (the split and the scoring window follow it), the
label (0/1), categorical and numeric features, and the numeric ones a linear model sees on a log scale.
"""

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dataplat_core.warehouse import Warehouse, quote_identifier, quote_table


@dataclass(frozen=True)
class FeatureRoles:
    """What each column of the feature table is to the model."""

    key: str
    time: str
    label: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    log_scaled: tuple[str, ...] = ()  # non-negative, heavy-tailed numerics: log1p before scaling

    def __post_init__(self) -> None:
        for name in self.columns:
            quote_identifier(name)  # each becomes an identifier in the model's SQL
        if not self.features:
            raise ValueError("declare at least one categorical or numeric feature")
        repeated = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if repeated:
            raise ValueError(f"a column has one role: {repeated} declared twice")
        stray = sorted(set(self.log_scaled) - set(self.numeric))
        if stray:
            raise ValueError(f"log_scaled columns must be numeric features: {stray}")

    @property
    def features(self) -> tuple[str, ...]:
        return self.categorical + self.numeric

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the model reads, in the frame's order."""
        return (self.key, self.time, *self.features, self.label)


def features_select(sql: str, tables: Mapping[str, str]) -> str:
    """The declared SELECT with each `$name` replaced by its source table (validated and quoted). An unknown
    `$name` is refused naming the declared ones (the component calls this when the location loads)."""
    _check_features_sql(sql, tables)
    return (
        string.Template(sql).substitute({name: quote_table(table) for name, table in tables.items()}).strip()
    )


def _check_features_sql(sql: str, tables: Mapping[str, str]) -> None:
    template = string.Template(sql)
    if not template.is_valid():
        raise ValueError("the features SQL has a `$` that names no table (write `$$` for a literal dollar)")
    unknown = sorted(set(template.get_identifiers()) - set(tables))
    if unknown:
        raise ValueError(
            f"the features SQL reads {', '.join('$' + u for u in unknown)}, which no source declares "
            f"(declared: {', '.join(sorted(tables)) or 'none'})"
        )


def build_feature_table(warehouse: Warehouse, table: str, select: str) -> int:
    """(Re)build `table` in one statement, so a failed run leaves the previous version readable."""
    schema, _ = table.split(".")
    ((rows,),) = warehouse.execute(
        [
            f"create schema if not exists {quote_identifier(schema)}",
            f"create or replace table {quote_table(table)} as {select}",
            f"select count(*) from {quote_table(table)}",
        ]
    )
    return int(rows)


def table_schema(warehouse: Warehouse, table: str, columns: Sequence[str]) -> dict[str, str]:
    """Warehouse types of `columns` in `table` (absent columns are left out, so a dropped one shows)."""
    schema, name = table.split(".")
    quote_table(table)  # validated: the literals below are identifiers, never free text
    rows = warehouse.fetch_all(
        "select lower(column_name), upper(data_type) from information_schema.columns "
        f"where lower(table_schema) = '{schema.lower()}' and lower(table_name) = '{name.lower()}'",
    )
    types = dict(rows)
    return {c: types[c] for c in columns if c in types}


def schema_differences(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """Human-readable differences between a model's training schema and a table's, empty if they match."""
    problems = [f"missing column {c} ({t})" for c, t in expected.items() if c not in actual]
    problems += [
        f"column {c} is {actual[c]}, the model was trained on {t}"
        for c, t in expected.items()
        if c in actual and actual[c] != t
    ]
    problems += [f"unexpected column {c} ({t})" for c, t in actual.items() if c not in expected]
    return problems
