"""Property-based tests (hypothesis) of the core's parsing and validation: identifiers from config and the
environment's settings."""

import duckdb
import pytest
from dataplat_core.environment import (
    LOCAL,
    LOCAL_SPEC,
    PLATFORM_ENV_VAR,
    EnvironmentSpec,
    MissingEnvironmentVariables,
    core_variables,
    current_environment,
    load_settings,
)
from dataplat_core.variables import Variable
from dataplat_core.warehouse import InvalidIdentifier, quote_identifier, quote_table
from hypothesis import example, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=150, deadline=None)
VALID = st.from_regex(r"[A-Za-z_][A-Za-z0-9_$]{0,40}", fullmatch=True)


@pytest.fixture(scope="module")
def conn():
    with duckdb.connect() as connection:
        yield connection


@SETTINGS
@given(schema=VALID, table=VALID, column=VALID, value=st.integers(-(2**63), 2**63 - 1))
def test_any_accepted_name_round_trips_through_duckdb_as_schema_table_and_column(
    conn, schema, table, column, value
):
    qualified = quote_table(f"{schema}.{table}")
    conn.execute(f"create schema if not exists {quote_identifier(schema)}")
    conn.execute(f"create or replace table {qualified} ({quote_identifier(column)} BIGINT)")
    try:
        conn.execute(f"insert into {qualified} values (?)", [value])
        assert conn.execute(f"select {quote_identifier(column)} from {qualified}").fetchall() == [(value,)]
        names = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where lower(table_schema) = lower(?) and lower(table_name) = lower(?)",
            [schema, table],
        ).fetchall()
        # DuckDB matches schema and table names case-insensitively (an earlier example may have created the
        # schema in another case); the column was just created: its name is kept exactly.
        assert [(s.lower(), t.lower(), c) for s, t, c in names] == [(schema.lower(), table.lower(), column)]
    finally:
        conn.execute(f"drop table {qualified}")


@SETTINGS
@given(
    prefix=st.text(max_size=10),
    bad=st.sampled_from(['"', ";", " ", "\t", "\n", "'", "-", ".", "(", "\x00", "`", "é"]),
    suffix=st.text(max_size=10),
)
@example(prefix="A", bad="\n", suffix="")  # found by this test in CI: the pattern ended in "$", not "\Z"
def test_anything_with_quotes_semicolons_or_whitespace_is_rejected(prefix, bad, suffix):
    with pytest.raises(InvalidIdentifier):
        quote_identifier(prefix + bad + suffix)


@SETTINGS
@given(name=st.text(max_size=60))
def test_whatever_is_accepted_is_plain_ascii_and_quoted_as_is(name):
    try:
        quoted = quote_identifier(name)
    except InvalidIdentifier:
        return
    assert quoted == f'"{name}"' and 0 < len(name) <= 255
    assert all(c.isascii() and (c.isalnum() or c in "_$") for c in name) and not name[0].isdigit()


# Local (built in), and environments of both warehouses as deployment folders declare them.
SPECS = [
    LOCAL_SPEC,
    EnvironmentSpec("staging", "duckdb", {"SOURCE_PG_SSLMODE": "disable"}),
    EnvironmentSpec(
        "prod", "snowflake", {"SOURCE_PG_SSLMODE": "require", "DATAPLAT_STATE_DIR": "{data_home}/s"}
    ),
]
# A package's resource variables beside core's (`variables.Variable`): a local default, a required one, a secret.
PROVIDED = (
    Variable("ORDERS_DB_HOST", "host", local_default="127.0.0.1"),
    Variable("ORDERS_DB_PORT", "port"),
    Variable("ORDERS_DB_PASSWORD", "password", secret=True),
)


def _variables(spec: EnvironmentSpec) -> tuple[Variable, ...]:
    return (*core_variables(spec.warehouse), *PROVIDED)


def _default(spec: EnvironmentSpec, variable: Variable) -> str | None:
    return spec.defaults.get(variable.name, variable.local_default if spec.name == LOCAL else None)


ALL_VARS = sorted({v.name for spec in SPECS for v in _variables(spec)})


@SETTINGS
@given(
    spec=st.sampled_from(SPECS),
    spelling=st.sampled_from([str.lower, str.upper, str.title, lambda s: f"  {s} "]),
    given_vars=st.sets(st.sampled_from(ALL_VARS)),
    blank_vars=st.sets(st.sampled_from(ALL_VARS)),
)
def test_settings_list_exactly_the_missing_variables_or_carry_every_required_one(
    spec, spelling, given_vars, blank_vars
):
    environ = {PLATFORM_ENV_VAR: spelling(spec.name), "XDG_DATA_HOME": "/data"}
    environ |= {name: "   " for name in blank_vars}  # whitespace counts as unset
    environ |= {name: f"value-of-{name}" for name in given_vars}
    assert current_environment(environ) == spec.name
    variables = _variables(spec)
    missing = sorted(
        v.name for v in variables if v.required and v.name not in given_vars and _default(spec, v) is None
    )
    if missing:
        with pytest.raises(MissingEnvironmentVariables) as err:
            load_settings(spec, environ, variables)
        assert err.value.missing == missing and all(n in str(err.value) for n in missing)
        return
    loaded = load_settings(spec, environ, variables)
    present = {v.name for v in variables if v.name in given_vars or _default(spec, v) is not None}
    assert set(loaded.values) == present
    for v in variables:
        if v.name not in present:
            continue
        assert loaded.is_from_environment(v.name) is (v.name in given_vars)
        expected = (
            f"value-of-{v.name}" if v.name in given_vars else _default(spec, v).format(data_home="/data")
        )
        assert loaded.values[v.name] == expected
