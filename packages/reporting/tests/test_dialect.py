"""The SQL translation the marts rely on: one SELECT only, identifiers quoted as written for Snowflake."""

import pytest
from dataplat_reporting.dialect import UnsupportedSql, transpile
from dataplat_reporting.sql_mart import read_sql


@pytest.mark.parametrize("sql", ["drop table raw_shop.orders", "select 1; select 2", "selec 1 frm"])
def test_anything_but_one_select_is_refused(sql):
    with pytest.raises(UnsupportedSql):
        transpile(sql, write="snowflake")


def test_duckdb_functions_become_snowflake_ones():
    out = transpile(
        "select date_trunc('month', d) as m, cast(x as double) / 2 as h from s.t", write="snowflake"
    )
    # DuckDB divides by zero to NULL where Snowflake raises: sqlglot keeps DuckDB's meaning with NULLIF.
    assert (
        out
        == 'SELECT DATE_TRUNC(\'MONTH\', "d") AS "m", CAST("x" AS DOUBLE) / NULLIF(2, 0) AS "h" FROM "s"."t"'
    )


def test_table_placeholders_are_validated_and_quoted(tmp_path):
    assert (
        read_sql("select * from $orders", tmp_path, {"orders": "shop_v2.orders"})
        == 'select * from "shop_v2"."orders"'
    )
    with pytest.raises(ValueError, match=r"\$nope"):
        read_sql("select * from $nope", tmp_path)
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        read_sql("select * from $orders", tmp_path, {"orders": "x; drop"})
    with pytest.raises(ValueError, match="no SQL file 'missing.sql' beside the defs.yaml"):
        read_sql("missing.sql", tmp_path)
    (tmp_path / "m.sql").write_text("select * from $orders")
    assert read_sql("m.sql", tmp_path, {"orders": "a.b"}) == 'select * from "a"."b"'
