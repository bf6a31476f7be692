"""The referee for policy meaning: `@cloud-copilot/iam-simulate`, pinned in
tests/policy_eval/ (`npm ci` there on first use). One node process per batch of cases,
since its start-up is the slow part."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.helpers import ROOT

TOOL = ROOT / "tests" / "policy_eval"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def simulate(cases: list[dict[str, Any]], script: str = "evaluate.mjs") -> list[str]:
    """The simulator's decision for each case, in order; a case it cannot decide fails."""
    assert NODE is not None
    if not (TOOL / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=TOOL,
                       check=True, capture_output=True)
    done = subprocess.run([NODE, str(TOOL / script)], input=json.dumps(cases),
                          capture_output=True, text=True, check=True, timeout=120)
    results = json.loads(done.stdout)
    errors = [(case, result) for case, result in zip(cases, results, strict=True)
              if result["decision"] == "Error"]
    assert not errors, errors[:5]
    return [str(r["decision"]) for r in results]
