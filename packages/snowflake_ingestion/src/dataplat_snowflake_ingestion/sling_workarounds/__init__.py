"""What Sling 1.4.11 (the newest offline wheel) and dagster-sling 0.29 lack, in one place. Each module names the
behaviour it works around and the test that shows it; drop a module when its test passes without it.

- `watchdog.py`: Sling can deadlock with its DuckDB CLI (both idle, forever): a stalled Sling is killed so the
  step fails as transient and is retried (`tests/test_replication_faults.py`).
- `unchanged_streams.py`: Sling takes about a second per stream even when the source has no newer row; such
  streams are reported unchanged without starting Sling (`tests/test_unchanged_streams.py`).
- `errors.py`: dagster-sling raises Sling's whole colored log; the failure's first line names the side that
  failed (a source that is down or refuses the credentials, a locked warehouse file) and whether a retry helps
  (`tests/test_replication_faults.py`).

The component (`sling_replication.py`) uses them from its `execute` hook.
"""
