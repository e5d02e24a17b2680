"""Least privilege against the real sandbox PostgreSQL (docs/security.md).

The replicator role is refused by PRIVILEGES, not only by its read-only transaction default: every write below
runs after `SET default_transaction_read_only = off`, and must fail with insufficient_privilege. (The sandbox's
test_postgres.py checks INSERT/UPDATE/CREATE fail in the default read-only session.) That the platform's own
source connections log in as that role is snowflake_ingestion's test_source.py, whose package provides them.
"""

import uuid

import psycopg
import pytest

WRITES = {
    "insert": "INSERT INTO shop.products VALUES (999999, 'X', 'x', 'x', 1, now())",
    "update": "UPDATE shop.orders SET status = 'paid' WHERE order_id = 1",
    "delete": "DELETE FROM shop.order_items WHERE order_id = 1",
    "truncate": "TRUNCATE shop.order_items",
    "create_table": "CREATE TABLE shop.evil (x int)",
    "create_schema": "CREATE SCHEMA evil",
    "create_role": "CREATE ROLE evil LOGIN PASSWORD 'x'",
    "alter_itself": "ALTER ROLE replicator CREATEROLE",
    "copy_to_server_file": "COPY shop.orders TO '/tmp/orders.csv'",
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_replicator_is_refused_by_privileges_even_in_a_read_write_transaction(sandbox_postgres, name):
    with psycopg.connect(sandbox_postgres.dsn("readonly"), autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("off",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(WRITES[name])
    with sandbox_postgres.connect("admin") as admin:  # and nothing changed
        assert admin.execute("SELECT count(*) FROM shop.order_items WHERE order_id = 1").fetchone()[0] > 0
        assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'evil'").fetchone() == (0,)


def test_replicator_cannot_read_outside_the_shop_schema(sandbox_postgres):
    schema = f"finance_{uuid.uuid4().hex[:8]}"
    with sandbox_postgres.connect("admin", autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        admin.execute(f"CREATE TABLE {schema}.salaries (name text, amount int)")
        # A new table in shop IS readable (the default privileges grant SELECT).
        admin.execute(f"CREATE TABLE shop.{schema}_new (x int)")
    try:
        with psycopg.connect(sandbox_postgres.dsn("readonly"), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {schema}.salaries")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM pg_catalog.pg_authid")  # password hashes
            assert conn.execute(f"SELECT count(*) FROM shop.{schema}_new").fetchone() == (0,)
            role = conn.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"
            ).fetchone()
            assert role == (False, False, False, False, False)
            # Granting itself more: PostgreSQL only warns, and nothing is granted.
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("GRANT INSERT ON shop.orders TO replicator")
            assert conn.execute("SELECT has_table_privilege('shop.orders', 'INSERT')").fetchone() == (False,)
    finally:
        with sandbox_postgres.connect("admin", autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.execute(f"DROP TABLE shop.{schema}_new")
