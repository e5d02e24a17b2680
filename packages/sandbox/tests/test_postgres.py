import os
import stat

import psycopg
import pytest

from dataplat_sandbox import data as d
from dataplat_sandbox.postgres import SandboxPostgres


def test_loaded_counts_match_generated_data(sandbox_postgres, sandbox_config):
    data = d.generate_cached(sandbox_config)
    with sandbox_postgres.connect("readonly") as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM shop.{t}").fetchone()[0]
            for t in ("customers", "products", "orders", "order_items")
        }
    assert counts["customers"] == sandbox_config.customers
    assert counts["products"] == sandbox_config.products
    assert counts["orders"] >= sandbox_config.orders  # other tests may insert orders
    assert counts["order_items"] >= len(data.items.order_id)
    assert sandbox_postgres.load(sandbox_config) is False  # idempotent: same config is not reloaded


def test_schema_has_primary_keys_and_updated_at_indexes(sandbox_postgres):
    with sandbox_postgres.connect() as conn:
        idx = {r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'shop'")}
        nullable = conn.execute(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'shop' AND table_name = 'orders' AND column_name = 'updated_at'"
        ).fetchone()[0]
    for table in ("customers", "products", "orders", "order_items"):
        assert any(f"shop.{table} USING btree (updated_at)" in i for i in idx), table
    assert any("order_items_pkey" in i and "(order_id, line_no)" in i for i in idx)
    assert nullable == "NO"


def test_readonly_role_reads_but_cannot_write(sandbox_postgres):
    assert sandbox_postgres.dsn("readonly").endswith("/shop?sslmode=disable")
    with psycopg.connect(sandbox_postgres.dsn("readonly"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] > 0
        for stmt in (
            "INSERT INTO shop.products VALUES (999999, 'X', 'x', 'x', 1, now())",
            "UPDATE shop.orders SET status = 'paid' WHERE order_id = 1",
            "CREATE TABLE shop.evil (x int)",
            "CREATE TABLE public.evil (x int)",
        ):
            with pytest.raises(psycopg.errors.Error):
                conn.execute(stmt)
        with pytest.raises(psycopg.errors.Error):
            conn.execute("SELECT * FROM sandbox.meta")  # the sandbox's bookkeeping is not exposed


def test_tcp_requires_password(sandbox_postgres):
    pg = sandbox_postgres
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=pg.host, port=pg.port, dbname="shop", user=pg.readonly_user, password="wrong")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=pg.host, port=pg.port, dbname="shop", user=pg.admin_user, sslmode="disable")


def test_insert_and_update_orders_keep_items_consistent(sandbox_postgres):
    pg = sandbox_postgres
    with pg.connect() as conn:
        before = conn.execute("SELECT max(updated_at) FROM shop.orders").fetchone()[0]
    new = pg.insert_orders(5)
    changed = pg.update_orders(7)
    assert len(new) == 5 and len(changed) == 7
    with pg.connect() as conn:
        assert new == [
            r[0]
            for r in conn.execute(
                "SELECT order_id FROM shop.orders WHERE order_id = ANY(%s) AND status = 'placed' ORDER BY 1",
                [new],
            )
        ]
        assert conn.execute("SELECT count(*) FROM shop.orders WHERE order_id = ANY(%s) AND updated_at > %s",
                            [changed, before]).fetchone()[0] == 7  # fmt: skip
        bad = conn.execute(
            """SELECT o.order_id FROM shop.orders o JOIN (
                   SELECT order_id, sum(quantity * unit_price) AS sub FROM shop.order_items GROUP BY 1) s
                   USING (order_id)
               WHERE o.total_amount <> round(s.sub * (100 - o.discount_pct) / 100, 2)"""
        ).fetchall()
        assert bad == []
        orphans = conn.execute(
            "SELECT count(*) FROM shop.orders o WHERE NOT EXISTS "
            "(SELECT 1 FROM shop.order_items i WHERE i.order_id = o.order_id)"
        ).fetchone()[0]
        assert orphans == 0


def test_second_run_reuses_datadir_and_survives_kill(server_tmp_path, sandbox_config):
    pg = SandboxPostgres(server_tmp_path / "pg")
    with pg:
        pg.load(sandbox_config)
        first_port, password = pg.port, pg.readonly_password
        pg.insert_orders(3)
    assert not pg.is_running()
    creds = server_tmp_path / "pg" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert password in creds.read_text()

    again = SandboxPostgres(server_tmp_path / "pg")  # a new process would do exactly this
    with again:
        assert again.readonly_password == password
        assert again.load(sandbox_config) is False
        with again.connect("readonly") as conn:
            assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == sandbox_config.orders + 3
        pid = again._postmaster_pid()
        again.kill()
        assert not again.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(again.dsn(), connect_timeout=2)
        again.start()
        assert again._postmaster_pid() != pid
        with again.connect() as conn:
            assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == sandbox_config.orders + 3
    assert first_port  # ports are picked fresh on each start


AS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="only as root does the server run as another user, who can lose folder access"
)


@AS_ROOT
def test_stop_keeps_committed_rows_when_a_parent_folder_lost_traverse_permission(
    server_tmp_path_factory, sandbox_config
):
    """Another pytest process resets /tmp/pytest-of-root to 0700 at start, under a running server: its
    checkpointer then could not open global/pg_control by absolute path, PANICked at shutdown, and the rows
    committed since the last checkpoint were gone after a restart (seen in CI). stop() restores access first."""
    parent = server_tmp_path_factory("revoked") / "parent"
    parent.mkdir()
    pg = SandboxPostgres(parent / "pg")
    with pg:
        pg.load(sandbox_config)
        pg.insert_orders(3)
        parent.chmod(0o700)  # what pytest does to its base folder
    assert "abnormal" not in pg.logfile.read_text()
    with SandboxPostgres(parent / "pg") as again, again.connect("readonly") as conn:
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == sandbox_config.orders + 3


@AS_ROOT
def test_an_unclean_shutdown_is_an_error_not_silent_loss(
    server_tmp_path_factory, sandbox_config, monkeypatch
):
    """Without the access fix the server really PANICs at shutdown: stop() says so instead of returning."""
    parent = server_tmp_path_factory("unclean") / "parent"
    parent.mkdir()
    pg = SandboxPostgres(parent / "pg")
    pg.start()
    try:
        pg.load(sandbox_config)
        monkeypatch.setattr(SandboxPostgres, "_grant_traverse", lambda self: None)
        parent.chmod(0o700)
        with pytest.raises(RuntimeError, match=r"did not shut down cleanly(.|\n)*PANIC"):
            pg.stop()
        assert not pg.is_running()
    finally:
        parent.chmod(0o755)
        pg.kill()


def test_passwords_are_generated_not_fixed(tmp_path):
    a, b = SandboxPostgres(tmp_path / "a"), SandboxPostgres(tmp_path / "b")
    assert a.admin_password != b.admin_password and len(a.readonly_password) >= 24
    assert SandboxPostgres(tmp_path / "c", readonly_password="given").readonly_password == "given"
    assert a.dsn("readonly").startswith(f"postgresql://replicator:{a.readonly_password}@127.0.0.1:")


@AS_ROOT
def test_a_datadir_under_pytests_own_base_folder_is_refused_as_root(tmp_path):
    """The CI failure this prevents: initdb PANICked on global/pg_control when another pytest process reset
    /tmp/pytest-of-root to 0700 mid-way."""
    with pytest.raises(RuntimeError, match="server_tmp_path"):
        SandboxPostgres(tmp_path / "pg").start()
    assert not (tmp_path / "pg").exists()
