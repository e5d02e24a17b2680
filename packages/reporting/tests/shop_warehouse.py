"""The upstream tables the marts read, built from the sandbox's real sources into a DuckDB file.

- `raw_shop.*`: the sandbox's PostgreSQL, copied by DuckDB's postgres scanner (what Sling replicates).
- `payments_api.payments` / `.refunds`: paged from the real payments API server over HTTP, with dlt's
  `_dlt_load_id`/`_dlt_id` columns and dlt's types (numbers as DOUBLE, ISO timestamps as TIMESTAMPTZ).
- `raw_files.sales` / `raw_files.sales_rejects`: the landing CSVs (one day with the sandbox's `bad_types`
  defect) read by DuckDB's CSV reader with rejects kept, one partition per file date (`_file_date`).
"""

import json
from datetime import date
from pathlib import Path

import duckdb
from dataplat_core.binaries import duckdb_connection_config
from dataplat_core.duckdb_warehouse import copy_from_postgres
from dataplat_sandbox.landing import SALES_COLUMN_TYPES
from dataplat_sandbox.payments_api import fetch_all

SALES_COLUMNS = SALES_COLUMN_TYPES
API_TYPES = {
    "payments": {
        "payment_id": "BIGINT",
        "order_id": "BIGINT",
        "amount": "DOUBLE",
        "currency": "VARCHAR",
        "method": "VARCHAR",
        "status": "VARCHAR",
        "created_at": "TIMESTAMPTZ",
        "updated_at": "TIMESTAMPTZ",
    },
    "refunds": {
        "refund_id": "BIGINT",
        "payment_id": "BIGINT",
        "order_id": "BIGINT",
        "amount": "DOUBLE",
        "reason": "VARCHAR",
        "created_at": "TIMESTAMPTZ",
        "updated_at": "TIMESTAMPTZ",
    },
}
LOAD_ID = "1767225600.000001"


def copy_postgres(conn: duckdb.DuckDBPyConnection, dsn: str) -> None:
    copy_from_postgres(conn, dsn, ("orders", "order_items", "customers", "products"))


def copy_payments_api(conn: duckdb.DuckDBPyConnection, url: str, token: str, folder: Path) -> None:
    conn.execute("create schema payments_api")
    for endpoint, types in API_TYPES.items():
        rows = fetch_all(url, token, f"/{endpoint}")
        path = folder / f"{endpoint}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        columns = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
        conn.execute(
            f"create table payments_api.{endpoint} as select *, '{LOAD_ID}' as _dlt_load_id, "
            f"md5(cast({next(iter(types))} as varchar)) as _dlt_id "
            f"from read_json('{path}', format='newline_delimited', columns={{{columns}}})"
        )


def load_landing(conn: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    columns = ", ".join(f"'{c}': '{t}'" for c, t in SALES_COLUMNS.items())
    conn.execute("create schema raw_files")
    conn.execute(
        f"create table raw_files.sales ({', '.join(f'{c} {t}' for c, t in SALES_COLUMNS.items())}, "
        "_file_date DATE, _source_file VARCHAR, _loaded_at TIMESTAMP)"
    )
    conn.execute(
        "create table raw_files.sales_rejects (partition_date DATE, file VARCHAR, line BIGINT, "
        "column_name VARCHAR, error_type VARCHAR, reason VARCHAR, raw_line VARCHAR, loaded_at TIMESTAMP)"
    )
    for path in sorted(files):
        day = date.fromisoformat(path.stem)
        # DuckDB keeps rejects in per-connection temporary tables: start each file with empty ones.
        conn.execute("drop table if exists temp.main.rej_errors; drop table if exists temp.main.rej_scans")
        conn.execute(
            f"insert into raw_files.sales select *, ?::DATE, ?, now()::TIMESTAMP from read_csv('{path}', "
            f"header=true, delim=',', columns={{{columns}}}, auto_detect=false, store_rejects=true, "
            "rejects_table='rej_errors', rejects_scan='rej_scans')",
            [day.isoformat(), path.name],
        )
        conn.execute(
            "insert into raw_files.sales_rejects select ?::DATE, ?, line, min(column_name), min(error_type::VARCHAR), "
            "min(error_message), min(csv_line), now()::TIMESTAMP from rej_errors group by line",
            [day.isoformat(), path.name],
        )


def build_shop_warehouse(
    path: Path, *, pg_dsn: str, api_url: str, api_token: str, landing: list[Path]
) -> None:
    with duckdb.connect(str(path), config=duckdb_connection_config()) as conn:
        copy_postgres(conn, pg_dsn)
        copy_payments_api(conn, api_url, api_token, path.parent)
        load_landing(conn, landing)
