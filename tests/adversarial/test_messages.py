"""Class: what iamstate says when things go wrong. Ctrl-C mid-apply says what was done and
what was not; no input or path ends in a traceback; messages say what is true."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.e2e.conftest import Cli


def interruptible() -> None:
    """Ctrl-C reaches the CLI as at a terminal, even when the tests were started where
    SIGINT is ignored (a shell's background job): children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("workers", ["1", "8"])
def test_ctrl_c_mid_apply_reports_done_and_not_done(cli: Cli, workers: str) -> None:
    lines = ["users:"] + [f"  HeadlessUser-{i:04d}: {{}}" for i in range(120)]
    (cli.repo / "accounts/sandbox/many.yaml").write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(cli.command("apply", "--auto-approve", "--workers", workers),
                               env=cli.env, cwd=cli.repo, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    assert process.stdout is not None
    done_lines = []
    for line in process.stdout:  # interrupt after the 50th change, whatever the machine
        done_lines.append(line)  # (CI output counts: a line per 50 changes of a step)
        if any(seen.startswith("  applied ") for seen in done_lines):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    out = "".join(done_lines) + out
    assert process.returncode == 130, (out, err)
    assert "apply interrupted" in err and "Traceback" not in out + err
    assert "Done (" in err and "Not done (" in err
    assert "Run `iamstate plan` again: it shows exactly what is left." in err
    done = int(err.split("Done (", 1)[1].split(")", 1)[0])
    assert done > 0
    rest = cli("plan")
    assert "+ create user HeadlessUser-0119" in rest.out
    assert cli("apply", "--auto-approve").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0


def test_custom_yaml_tags_are_a_file_line_error(cli: Cli) -> None:
    for relative, text in (("policies/tagged.yaml", "Version: '2012-10-17'\n"
                                                    "Statement: !Ref [a, b]\n"),
                           ("accounts/sandbox/tagged.yaml", "users: !!python/object:os.system"
                                                            " {}\n")):
        path = cli.repo / relative
        path.write_text(text)
        result = cli("validate")
        assert result.code == 1 and f"{path.name}:" in result.err, result.both
        assert "Traceback" not in result.both
        path.unlink()


def test_an_unwritable_plan_file_is_a_clear_error(cli: Cli) -> None:
    (cli.repo / "blocker").write_text("a file, not a folder")
    for target in ("blocker/plan.json", "accounts"):
        result = cli("plan", "--out", str(cli.repo / target))
        assert result.code == 1, result.both
        assert "cannot write the plan file" in result.err and "Traceback" not in result.both


def test_a_plan_time_error_does_not_claim_aws_was_not_read(cli: Cli) -> None:
    (cli.repo / "accounts/sandbox/extra.yaml").write_text(
        "groups:\n  Extra:\n    managed_policies: [arn:aws:iam::aws:policy/NoSuchThing]\n")
    result = cli("plan")
    assert result.code == 1
    assert "nothing was changed in AWS" in result.err
    assert "nothing was read" not in result.err


def test_an_apply_of_something_that_is_not_a_plan_file(cli: Cli) -> None:
    for content in ("not json", '{"format_version": 1, "accounts": []}', "[]"):
        (cli.repo / "p.json").write_text(content)
        result = cli("apply", "p.json")
        assert result.code == 1 and "Traceback" not in result.both
    assert "format_version 1" in result.err or "not an iamstate plan" in result.err
    (cli.repo / "p.json").write_text('{"format_version": 1, "accounts": []}')
    old = cli("apply", "p.json")
    assert "format_version 1" in old.err and "plan again" in old.err
