"""Property-based tests (hypothesis) of the core's parsing and validation: identifiers from config and the
environment's settings."""

import duckdb
import pytest
from dataplat_core.environment import (
    LOCAL_SPEC,
    PLATFORM_ENV_VAR,
    EnvironmentSpec,
    MissingEnvironmentVariables,
    current_environment,
    load_settings,
)
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
ALL_VARS = sorted({v for spec in SPECS for v in spec.required})


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
    missing = sorted(n for n in spec.required if n not in given_vars and n not in spec.defaults)
    if missing:
        with pytest.raises(MissingEnvironmentVariables) as err:
            load_settings(spec, environ)
        assert err.value.missing == missing and all(n in str(err.value) for n in missing)
        return
    loaded = load_settings(spec, environ)
    assert set(loaded.values) == set(spec.required)
    for name in spec.required:
        assert loaded.is_from_environment(name) is (name in given_vars)
        expected = f"value-of-{name}" if name in given_vars else spec.defaults[name].format(data_home="/data")
        assert loaded.values[name] == expected
