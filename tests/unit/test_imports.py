"""What a command imports is what it pays on every run: `validate` runs in a pre-commit
hook, so it must not load AWS's SDK (botocore alone is about a third of its start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import copy_example

PROBE = """
import sys
from iamstate.cli import main
sys.argv = ["iamstate", "--repo", sys.argv[1], "validate"]
try:
    main()
except SystemExit as done:
    code = done.code
print(code, sorted(m for m in sys.modules if m.split(".")[0] in ("botocore", "boto3")))
"""


def test_validate_loads_no_aws_sdk(tmp_path: Path) -> None:
    repo = copy_example(tmp_path)
    done = subprocess.run([sys.executable, "-c", PROBE, str(repo)], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
