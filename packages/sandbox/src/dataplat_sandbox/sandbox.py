"""Everything together: PostgreSQL + landing folder + payments and shipments APIs, and the env a pipeline reads."""

from __future__ import annotations

from pathlib import Path

from .api_server import FaultConfig
from .config import SandboxConfig
from .landing import write_landing
from .payments_api import PaymentsApiServer
from .postgres import SandboxPostgres
from .shipments_api import ShipmentsApiServer

ENV_KEYS = (
    "SOURCE_PG_HOST",
    "SOURCE_PG_PORT",
    "SOURCE_PG_DATABASE",
    "SOURCE_PG_USER",
    "SOURCE_PG_PASSWORD",
    "LANDING_URL",
    "PAYMENTS_API_URL",
    "PAYMENTS_API_TOKEN",
    "SHIPMENTS_API_URL",
    "SHIPMENTS_API_KEY",
)


def make_env(
    postgres: SandboxPostgres, landing: Path, api: PaymentsApiServer, shipments: ShipmentsApiServer
) -> dict[str, str]:
    """The connection settings of the four sources; PostgreSQL is exposed through the read-only role."""
    return {
        "SOURCE_PG_HOST": postgres.host,
        "SOURCE_PG_PORT": str(postgres.port),
        "SOURCE_PG_DATABASE": postgres.database,
        "SOURCE_PG_USER": postgres.readonly_user,
        "SOURCE_PG_PASSWORD": postgres.readonly_password,
        "LANDING_URL": str(Path(landing).absolute()),
        "PAYMENTS_API_URL": api.url,
        "PAYMENTS_API_TOKEN": api.token,
        "SHIPMENTS_API_URL": shipments.url,
        "SHIPMENTS_API_KEY": shipments.api_key,
    }


class Sandbox:
    """Starts PostgreSQL (``state_dir/postgres``), writes ``state_dir/landing`` and starts the payments and
    shipments APIs."""

    def __init__(
        self,
        state_dir: Path,
        config: SandboxConfig,
        *,
        api_token: str | None = None,
        faults: FaultConfig | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.config = config
        self.postgres = SandboxPostgres(self.state_dir / "postgres")
        self.landing_dir = self.state_dir / "landing"
        self.api = PaymentsApiServer(config, token=api_token, faults=faults)
        self.shipments = ShipmentsApiServer(config)
        self.landing_files: list[Path] = []

    def start(self) -> Sandbox:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.postgres.start()
            self.postgres.load(self.config)
            self.landing_files = write_landing(self.landing_dir, self.config)
            self.api.start()
            self.shipments.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.shipments.stop()
        self.api.stop()
        self.postgres.stop()

    def env(self) -> dict[str, str]:
        return make_env(self.postgres, self.landing_dir, self.api, self.shipments)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
