"""Least privilege against the real sandbox PostgreSQL (docs/security.md).

The replicator role is refused by PRIVILEGES, not only by its read-only transaction default: every write below
runs after `SET default_transaction_read_only = off`, and must fail with insufficient_privilege. (The sandbox's
test_postgres.py checks INSERT/UPDATE/CREATE fail in the default read-only session.) And the platform's own
source connections - `source_postgres` and Sling's `SOURCE_PG`, as `build_resources()` makes them from the
environment - log in as that role, never as the admin.
"""

import uuid

import dagster as dg
import psycopg
import pytest
from dataplat_core.resources import SOURCE_CONNECTION, build_resources

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


def test_the_platforms_source_connections_log_in_as_the_replicator(platform_env, sandbox_postgres):
    resources = build_resources()
    (sling_source,) = [c for c in resources["sling"].connections if c.name == SOURCE_CONNECTION]
    assert sling_source.type == "postgres"
    # Sling's connection and the resource carry the same settings, resolved by the run worker.
    assert sling_source.user == resources["source_postgres"].user
    assert sling_source.password == dg.EnvVar("SOURCE_PG_PASSWORD")
    seen = {}

    @dg.asset(required_resource_keys={"source_postgres"})
    def probe(context):
        source = context.resources.source_postgres
        seen["configured"] = source.user
        with source.connect() as conn:
            seen["current_user"] = conn.execute("SELECT current_user").fetchone()[0]
            conn.rollback()
            conn.autocommit = True
            conn.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM shop.orders WHERE false")

    assert dg.materialize([probe], resources=resources).success
    assert seen == {"configured": "replicator", "current_user": "replicator"}
    assert sandbox_postgres.admin_user != "replicator" and platform_env["SOURCE_PG_USER"] == "replicator"
    assert platform_env["SOURCE_PG_PASSWORD"] != sandbox_postgres.admin_password
