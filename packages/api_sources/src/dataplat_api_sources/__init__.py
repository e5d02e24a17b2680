"""REST API ingestion through dlt into the warehouse."""

import os
from importlib.metadata import version

__version__ = version("dataplat-api-sources")

# dlt's switch for its anonymous usage events (its `runtime.dlthub_telemetry` setting), read from the environment
# once, when dlt first resolves its runtime settings: set here, before any module of this package imports dlt.
# Left on, dlt posts the events from a thread of the run worker, which then waits for that thread at exit (~1 s
# with no route out), and keeps a tracking id under ~/.dlt. An operator's own setting wins.
TELEMETRY_SWITCH = "RUNTIME__DLTHUB_TELEMETRY"
os.environ.setdefault(TELEMETRY_SWITCH, "false")
