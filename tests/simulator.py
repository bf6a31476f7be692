"""The referee for policy meaning: `@cloud-copilot/iam-simulate`, pinned in
tests/policy_eval/ (`npm ci` there on first use). One node process per test process
(tests/policy_eval/serve.mjs, JSON lines), started on the first call and kept until the
process ends: node's start and the simulator's data load are the slow part, and the
property tests ask once per example."""

from __future__ import annotations

import atexit
import fcntl
import json
import shutil
import subprocess
import threading
import warnings
from typing import IO, Any

import pytest

from tests.helpers import ROOT

TOOL = ROOT / "tests" / "policy_eval"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
SERVER = "serve.mjs"
# A module of TOOL that exports decide(cases) is answered by the long-lived process; any
# other script keeps the one-shot protocol (cases on stdin, decisions on stdout).
EXPORTS = ("export async function decide", "export function decide")


def _install() -> None:
    """`npm ci` once, even when several test workers (xdist) ask at the same moment."""
    if (TOOL / "node_modules").is_dir():
        return
    with (TOOL / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TOOL / "node_modules").is_dir():
            subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=TOOL,
                           check=True, capture_output=True)


class _Server:
    """The long-lived node process: one request line in, one answer line out, in order."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def ask(self, script: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            process = self._running()
            stdin, stdout = self._pipes(process)
            stdin.write(json.dumps({"script": script, "cases": cases}) + "\n")
            stdin.flush()
            line = stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"the simulator ({SERVER}) exited: code {process.poll()}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the simulator could not run {script}: {answer['error']}")
        results: list[dict[str, Any]] = answer["results"]
        return results

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            assert NODE is not None
            self._process = subprocess.Popen([NODE, str(TOOL / SERVER)], cwd=TOOL, text=True,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._process

    @staticmethod
    def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
        assert process.stdin is not None and process.stdout is not None
        return process.stdin, process.stdout

    def close(self) -> None:
        """End of the test process: closing stdin lets node finish on its own."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=10)


_SERVER = _Server()
atexit.register(_SERVER.close)


def _one_shot(cases: list[dict[str, Any]], script: str) -> list[dict[str, Any]]:
    assert NODE is not None
    done = subprocess.run([NODE, str(TOOL / script)], input=json.dumps(cases),
                          capture_output=True, text=True, check=True, timeout=120)
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def simulate(cases: list[dict[str, Any]], script: str = "evaluate.mjs") -> list[str]:
    """The simulator's decision for each case, in order; a case it cannot decide fails."""
    assert NODE is not None
    _install()
    source = (TOOL / script).read_text(encoding="utf-8")
    if any(export in source for export in EXPORTS):
        try:
            results = _SERVER.ask(script, cases)
        except RuntimeError as error:
            # Seen once under heavy load and never reproduced: ask a fresh process, the
            # same referee, and say so in the run's summary rather than fail on the tool.
            warnings.warn(f"{error}; asked a one-shot process instead", stacklevel=2)
            _SERVER.close()
            results = _one_shot(cases, script)
    else:
        results = _one_shot(cases, script)
    assert len(results) == len(cases), (len(results), len(cases))
    errors = [(case, result) for case, result in zip(cases, results, strict=True)
              if result["decision"] == "Error"]
    assert not errors, errors[:5]
    return [str(r["decision"]) for r in results]
