"""What the `iamstate` process pays besides its work: what a command imports (`validate`
runs in a pre-commit hook, so it must not load AWS's SDK, about a third of its start-up),
the end of the process, and the cycle collector's pause during an audit."""

from __future__ import annotations

import gc
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


def test_the_process_exits_with_its_code_and_all_its_output(tmp_path: Path) -> None:
    """`iamstate` ends without the interpreter's teardown (cli.run): the exit code and
    every line written still get out, through a pipe too."""
    repo = copy_example(tmp_path)
    (repo / "accounts/sandbox/users.yaml").write_text("users:\n  jdoe: [\n")
    command = [sys.executable, "-m", "iamstate", "--repo", str(repo)]
    bad = subprocess.run([*command, "validate"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "users.yaml:3" in bad.stderr and bad.stderr.endswith(
        "1 error; nothing was changed in AWS.\n")
    version = subprocess.run([*command, "--version"], capture_output=True, text=True,
                             timeout=60)
    assert (version.returncode, version.stdout.split()[0]) == (0, "iamstate")


def test_an_audit_pauses_the_cycle_collector_only_while_it_runs() -> None:
    from iamstate.workflow import cycles_uncollected

    assert gc.isenabled()
    with cycles_uncollected():
        assert not gc.isenabled()
        with cycles_uncollected():  # nested: the outer one resumes it
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_exit_code_holds_with_stdout_or_stderr_closed(tmp_path: Path) -> None:
    """A job or a service manager may start `iamstate` with a standard stream closed
    (`>&-`): Python then has no `sys.stdout` (or `sys.stderr`), rich writes nowhere, and
    the command's own exit code must still be the process's: 0, 1 and click's 2 alike,
    with no traceback."""
    repo = copy_example(tmp_path / "good")
    broken = copy_example(tmp_path / "bad")
    (broken / "accounts/sandbox/users.yaml").write_text("users:\n  jdoe: [\n")
    cases = [(["--repo", str(repo), "validate"], 0),
             (["--repo", str(broken), "validate"], 1),
             (["--repo", str(repo), "validate", "--no-such-option"], 2),
             (["--version"], 0)]
    for closed in (">&-", "2>&-", ">&- 2>&-"):
        for arguments, code in cases:
            done = subprocess.run(
                ["sh", "-c", f'exec "$@" {closed}', "sh", sys.executable, "-m", "iamstate",
                 *arguments], capture_output=closed != ">&- 2>&-", text=True, timeout=60)
            assert done.returncode == code, (closed, arguments, done.stderr)
            assert "Traceback" not in (done.stderr or ""), (closed, arguments, done.stderr)
