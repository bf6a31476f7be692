"""templates/gitlab-ci.yml, the GitLab CI pipeline the README documents: GitLab's own CI
schema accepts it and its rules pick the right job for each kind of pipeline (gitlab-ci-local,
pinned in tests/gitlab_ci/, offline); what each job may reach (ID tokens, the protected
environment, one apply at a time) is read from its expanded form; its shell helpers are run."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.helpers import ROOT

TEMPLATE = ROOT / "templates" / "gitlab-ci.yml"
TOOL = ROOT / "tests" / "gitlab_ci"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
AWS_JOBS = {"plan", "apply", "drift"}


def _install() -> Path:
    """`npm ci` once, even when several test workers ask at the same moment."""
    binary = TOOL / "node_modules" / ".bin" / "gitlab-ci-local"
    if not binary.exists():
        with (TOOL / ".npm-ci.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not binary.exists():
                subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=TOOL,
                               check=True, capture_output=True)
    return binary


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git checkout of an IAM repository holding the template as its .gitlab-ci.yml."""
    repo = tmp_path / "iam"
    repo.mkdir()
    (repo / ".gitlab-ci.yml").write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(tmp_path)}
    for args in (["init", "-q", "-b", "main"],
                 ["remote", "add", "origin", "https://gitlab.example.com/acme/iam.git"],
                 ["add", "."], ["commit", "-q", "-m", "iam"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)
    return repo


def gitlab_ci_local(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(Path(NODE or "node").parent) + ":/usr/bin:/bin", "HOME": str(repo.parent),
           "GCL_IGNORE_PREDEFINED_VARS": "CI_PIPELINE_SOURCE"}
    return subprocess.run([str(_install()), *args], cwd=repo, capture_output=True, text=True,
                          env=env, timeout=120)


def jobs_for(repo: Path, source: str, **variables: str) -> set[str]:
    """The jobs a pipeline of `source` on main runs (GitLab's schema checked first)."""
    pairs = [f"CI_PIPELINE_SOURCE={source}", *(f"{k}={v}" for k, v in variables.items())]
    done = gitlab_ci_local(repo, "--list-csv", *(a for p in pairs for a in ("--variable", p)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "json schema validated" in done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    header = lines.index("name;description;stage;when;allowFailure;needs")
    return {line.split(";", 1)[0] for line in lines[header + 1:]}


@pytest.mark.slow
@needs_node
def test_gitlabs_schema_accepts_it_and_each_pipeline_runs_its_job(project: Path) -> None:
    assert jobs_for(project, "merge_request_event") == {"plan"}
    assert jobs_for(project, "push") == {"apply"}  # a merge to the default branch
    assert jobs_for(project, "web", IAMSTATE_MR="9") == {"apply"}  # a follow-up, by hand
    assert jobs_for(project, "web") == set()  # by hand without a merge request: nothing
    assert jobs_for(project, "schedule", IAMSTATE_SCHEDULE="drift") == {"drift"}
    assert jobs_for(project, "schedule") == set()


@pytest.mark.slow
@needs_node
@pytest.mark.parametrize(("old", "new", "message"), [
    ("  resource_group: iamstate-apply", "  resource_grup: iamstate-apply",
     "'resource_grup' property is not expected"),
    ("  interruptible: false", "  interruptible: never", "interruptible"),
])
def test_a_broken_template_is_refused(project: Path, old: str, new: str, message: str) -> None:
    ci = project / ".gitlab-ci.yml"
    assert old in ci.read_text()
    ci.write_text(ci.read_text().replace(old, new))
    done = gitlab_ci_local(project, "--list-csv")
    assert done.returncode != 0
    assert "Invalid .gitlab-ci.yml configuration" in done.stdout + done.stderr
    assert message in done.stdout + done.stderr


def expanded() -> dict[str, Any]:
    """The template with `extends:` applied (as GitLab expands it: a job's own keys win)."""
    data: dict[str, Any] = YAML(typ="safe").load(TEMPLATE.read_text(encoding="utf-8"))
    for name, job in data.items():
        if isinstance(job, dict) and "extends" in job:
            data[name] = {**data[job["extends"]], **job}
    return data


def test_only_the_aws_jobs_get_an_id_token_with_the_bootstrapped_audience() -> None:
    data = expanded()
    jobs = {n: j for n, j in data.items() if isinstance(j, dict) and "script" in j}
    assert set(jobs) == AWS_JOBS
    for name, job in jobs.items():
        assert job["id_tokens"] == {"IAMSTATE_ID_TOKEN": {"aud": "https://gitlab.com"}}, name
    assert "IAMSTATE_GITLAB_TOKEN" not in TEMPLATE.read_text().split("workflow:")[1], \
        "the API token is a masked CI/CD variable, never written in the file"


def test_apply_runs_one_at_a_time_in_the_protected_environment_on_the_default_branch() -> None:
    apply = expanded()["apply"]
    assert apply["resource_group"] == "iamstate-apply"
    assert apply["interruptible"] is False
    assert apply["environment"]["name"] == "iam-production"
    assert all(rule["if"].startswith("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && ")
               for rule in apply["rules"])
    script = "\n".join(apply["script"])
    assert '--commit "$CI_COMMIT_SHA" --since' in script and "--since-last-apply" in script
    assert '--pr "$IAMSTATE_MR"' in script
    plan = expanded()["plan"]
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert any("iamstate ci comment plan-0.json" in line for line in plan["script"])


def test_the_shell_helpers_read_the_accounts_matrix(tmp_path: Path) -> None:
    """`names` and `since` (before_script) on `iamstate ci accounts` output."""
    helpers = [line for line in expanded()["default"]["before_script"]
               if line.startswith(("names()", "since()"))]
    assert len(helpers) == 2
    matrix = [{"batch": 0, "accounts": "dev prod", "since": "abc123"}]
    script = "\n".join([*helpers, "printf '%s' \"$MATRIX\" | names",
                        "printf '%s' \"$MATRIX\" | since", "printf '[]' | names",
                        "printf '[]' | since"])
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], capture_output=True,
                          text=True, env={"MATRIX": json.dumps(matrix), "PATH": "/usr/bin:/bin"},
                          check=True)
    assert done.stdout.split("\n") == ["dev prod", "abc123", "", "", ""]


def test_a_push_pipeline_never_applies_a_follow_up_in_place_of_its_merge(
    tmp_path: Path
) -> None:
    """IAMSTATE_MR set on a push (`git push -o ci.variable=...`) would apply a follow-up and
    still count as the push's apply: the job fails instead. By hand (web) it applies the
    follow-up; a plain push applies its merge."""
    default, apply = expanded()["default"], expanded()["apply"]
    helpers = [line for line in default["before_script"] if line.startswith(("names()",
                                                                              "since()"))]
    stub = ('iamstate() { echo "$*" >> "$LOG"; case "$*" in "ci accounts"*) '
            """printf '[{"batch": 0, "accounts": "sandbox", "since": "abc"}]';; esac; }""")
    script = "\n".join([*helpers, stub, *apply["script"]])
    cases = [("push", "5", 1, []),
             ("web", "5", 0, ['ci apply-reviewed --account sandbox --pr 5']),
             ("push", "", 0, ["ci apply-reviewed --account sandbox --commit c0ffee --since abc"])]
    for source, mr, code, applied in cases:
        log = tmp_path / f"{source}-{mr}.log"
        done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "LOG": str(log),
                                   "CI_PIPELINE_SOURCE": source, "IAMSTATE_MR": mr,
                                   "CI_COMMIT_SHA": "c0ffee"})
        assert done.returncode == code, (source, mr, done.stderr)
        calls = log.read_text().splitlines() if log.exists() else []
        assert [c for c in calls if c.startswith("ci apply-reviewed")] == applied, calls
        if code:
            assert "IAMSTATE_MR is for a pipeline run by hand" in done.stderr
