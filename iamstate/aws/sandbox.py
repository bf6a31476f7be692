"""The local sandbox: a moto IAM/STS endpoint on 127.0.0.1, so the whole loop runs offline
(moto behind iamstate.aws.sandbox_server, which adds the last-accessed data moto lacks).

AWS managed policies are loaded (as AWS has them), and the account id is moto's default,
123456789012, the one the example repository declares.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from iamstate.errors import SandboxError
from iamstate.repository.files import ignore_state_folder, write_safely, write_text_safely

DEFAULT_PORT = 5055
STATE_FILE = Path(".iamstate") / "sandbox.json"
LOG_FILE = Path(".iamstate") / "sandbox.log"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
               "AWS_DEFAULT_REGION": "us-east-1"}


def environment(port: int) -> dict[str, str]:
    """The variables that point boto3 (and so iamstate) at the sandbox."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}


def exports(port: int) -> str:
    return "\n".join(f"export {k}={v}" for k, v in environment(port).items())


INSTALL = "pip install 'iamstate[sandbox]'"


def server_command(port: int) -> list[str]:
    """iamstate's server: moto (from the `sandbox` extra: CI installs iamstate without it),
    plus the last-accessed data and the credential report's root row that moto lacks
    (iamstate/sandbox_server.py)."""
    if importlib.util.find_spec("moto") is None:
        raise SandboxError(f"the sandbox is a local moto server, and moto is not installed: "
                           f"install it with {INSTALL}")
    return [sys.executable, "-m", "iamstate.aws.sandbox_server", "-H", "127.0.0.1", "-p", str(port)]


def server_environment() -> dict[str, str]:
    return {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}


def wait_until_up(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SandboxError(f"the sandbox did not answer on 127.0.0.1:{port} within {seconds:.0f} s")


def run_foreground(port: int) -> int:
    """Run the endpoint in this terminal until Ctrl-C."""
    return subprocess.call(server_command(port), env=server_environment())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(repo: Path, port: int) -> int:
    """Start the endpoint in the background (port 0: any free one); remember it under
    .iamstate/. A sandbox already running for this repository is reused."""
    state = repo / STATE_FILE
    if state.exists():
        running = json.loads(state.read_text())
        if _alive(running["pid"]):
            return int(running["port"])
    port = port or free_port()
    command = server_command(port)
    ignore_state_folder(repo)
    state.parent.mkdir(parents=True, exist_ok=True)
    write_safely(repo / LOG_FILE, b"", repo)  # made here, never through a planted link
    with open(repo / LOG_FILE, "ab") as log:
        process = subprocess.Popen(command, env=server_environment(),
                                   stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_up(port)
    except SandboxError:
        process.kill()
        raise SandboxError(f"the sandbox did not start on port {port} (is the port in use? "
                           f"see {repo / LOG_FILE})") from None
    write_text_safely(state, json.dumps({"pid": process.pid, "port": port}), repo)
    return port


def stop(repo: Path) -> bool:
    state = repo / STATE_FILE
    if not state.exists():
        return False
    running = json.loads(state.read_text())
    state.unlink()
    if _alive(running["pid"]):
        os.kill(running["pid"], signal.SIGTERM)
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
