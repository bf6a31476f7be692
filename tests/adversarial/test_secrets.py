"""Class: secrets and who receives them. The one-time password's recipient is reviewed (the
plan shows its fingerprint, and a swapped key makes the plan stale); the password is
encrypted and written before the login profile exists, and nothing is left that no one can
use when either step fails; no output, log or plan file ever holds it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest

from iamstate.plan.secrets import fingerprint
from tests.e2e.conftest import Cli
from tests.e2e.fault_proxy import fault_proxy
from tests.helpers import exists

# A throwaway key; its fingerprint as `ssh-keygen -lf` printed it.
KIM = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHs+kR6Yw7OORVk5CaaDAMsNfE3f6xEBxf7IrqzRfrCH "
       "kim@example")
KIM_FINGERPRINT = "SHA256:kL1sthp6KIfYQoyp2LHWordAijv8R8KUNFWDsRk4UEE"


def add_kim(cli: Cli, key: str) -> None:
    (cli.repo / "accounts/sandbox/kim.yaml").write_text(
        "users:\n  kim:\n    category: AllHumans\n    console_access: true\n"
        f"    public_key: {json.dumps(key)}\n")


def has_profile(cli: Cli, user: str) -> bool:
    return exists(cli.iam, "get_login_profile", UserName=user)


def test_the_fingerprint_is_what_ssh_keygen_shows(tmp_path: Path) -> None:
    assert fingerprint(KIM) == f"ssh-ed25519 {KIM_FINGERPRINT} (kim@example)"
    if shutil.which("ssh-keygen"):
        path = tmp_path / "k.pub"
        path.write_text(KIM + "\n")
        shown = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True,
                               text=True, check=True).stdout
        assert KIM_FINGERPRINT in shown
    age = pyrage.x25519.Identity.generate().to_public()
    assert fingerprint(str(age)) == str(age)


def test_the_plan_shows_the_recipient_and_a_swapped_key_makes_it_stale(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    add_kim(cli, KIM)
    plan = cli("plan", "--out", "p.json")
    assert f"one-time password encrypted to ssh-ed25519 {KIM_FINGERPRINT} (kim@example)" \
        in plan.out
    assert f"{KIM_FINGERPRINT}" in plan.out and f"{KIM_FINGERPRINT}" in (
        cli.repo / "p.json").read_text()
    mallory = str(pyrage.x25519.Identity.generate().to_public())
    add_kim(cli, mallory)  # swapped after the review
    before = cli.snapshot()
    refused = cli("apply", "p.json")
    assert refused.code == 1 and "stale" in refused.err
    assert cli.snapshot() == before
    assert not (cli.repo / ".iamstate/out/sandbox/kim.age").exists()


def test_a_password_that_cannot_be_written_is_never_set(cli: Cli, tmp_path: Path) -> None:
    assert cli("apply", "--auto-approve").code == 0
    add_kim(cli, str(pyrage.x25519.Identity.generate().to_public()))
    for trap in ("link out", "a file in the way"):
        out = cli.repo / ".iamstate/out"
        shutil.rmtree(out, ignore_errors=True)
        if out.is_symlink() or out.is_file():
            out.unlink()
        if trap == "link out":
            (tmp_path / "elsewhere").mkdir(exist_ok=True)
            os.symlink(tmp_path / "elsewhere", out)
        else:
            out.mkdir(parents=True)
            (out / "sandbox").write_text("not a folder")
        result = cli("apply", "--auto-approve")
        assert result.code == 1, (trap, result.both)
        assert "create login profile kim" in result.err
        assert not has_profile(cli, "kim"), trap
        assert list((tmp_path / "elsewhere").iterdir()) == [] if trap == "link out" else True
        plan = cli("plan")
        assert "+ create login profile kim" in plan.out, trap  # the rest is still planned
        if out.is_symlink():
            out.unlink()
        else:
            shutil.rmtree(out)


def test_a_refused_login_profile_leaves_no_password_file(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    add_kim(cli, str(pyrage.x25519.Identity.generate().to_public()))
    with fault_proxy(cli.env["AWS_ENDPOINT_URL"]) as (url, faults):
        faults.rule = lambda action, params: (
            (400, "PasswordPolicyViolation") if action == "CreateLoginProfile" else None)
        proxied = dataclasses.replace(cli, env={**cli.env, "AWS_ENDPOINT_URL": url})
        result = proxied("apply", "--auto-approve")
    assert result.code == 1 and "PasswordPolicyViolation" in result.err
    assert not (cli.repo / ".iamstate/out/sandbox/kim.age").exists()
    assert not has_profile(cli, "kim")


@pytest.mark.parametrize("command", [("apply", "--auto-approve"), ("apply", "p.json")])
def test_the_password_reaches_only_the_encrypted_file(cli: Cli,
                                                      command: tuple[str, ...]) -> None:
    identity = pyrage.x25519.Identity.generate()
    add_kim(cli, str(identity.to_public()))
    with fault_proxy(cli.env["AWS_ENDPOINT_URL"]) as (url, faults):
        proxied = dataclasses.replace(cli, env={**cli.env, "AWS_ENDPOINT_URL": url})
        planned = proxied("plan", "--out", "p.json", "--format", "json")
        applied = proxied(*command)
    assert applied.code == 0, applied.both
    sent = {params["UserName"]: params["Password"] for action, params in faults.seen
            if action == "CreateLoginProfile"}
    assert set(sent) == {"jdoe", "kim"}
    secret = (cli.repo / ".iamstate/out/sandbox/kim.age").read_bytes()
    assert pyrage.decrypt(secret, [identity]).decode() == sent["kim"]
    visible = planned.both + applied.both + (cli.repo / "p.json").read_text()
    for path in (cli.repo / ".iamstate").rglob("*"):
        if path.is_file() and path.suffix != ".age":
            visible += path.read_text(errors="replace")
    for password in sent.values():
        assert password not in visible
