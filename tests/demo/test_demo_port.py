"""`scripts/demo.py --ui` on a port another process listens on refuses at once, naming the port and the fix,
before it installs, starts or loads anything."""

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ui_on_a_port_in_use_fails_at_once_naming_the_port_and_the_fix(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        state = tmp_path / "state"
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--ui", "--port", str(port),
             "--state-dir", str(state)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith(f"demo: port {port} on 127.0.0.1 is in use"), message
    assert f"choose another port with --port (e.g. --port {port + 1})" in message
    assert not state.exists()  # refused before anything was started or written
