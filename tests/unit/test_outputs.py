"""Each output class (text, markdown, json), the lines with roles they lay out, the mermaid
graph, apply reports, and the one consequences model's round trip. No AWS."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from iamstate.analysis.findings import Finding
from iamstate.analysis.meaning import Consequences, EscalationFinding, UserConsequence
from iamstate.analysis.reach import Reach
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.errors import PlanFileError, Problem
from iamstate.hosts.comment import parse_comment, render_summary, section_text, well_formed
from iamstate.model.account import AccountConfig
from iamstate.model.changes import Create
from iamstate.model.state import State
from iamstate.outputs import FORMATS, output_class
from iamstate.outputs.base import Output, Validation
from iamstate.outputs.jsondoc import JsonOutput
from iamstate.outputs.lines import ChangeView, Line, Role, document_diff, people_blocks
from iamstate.outputs.markdown import MarkdownOutput, render_markdown
from iamstate.outputs.mermaid import MAX_NODES, escalation_graph, label
from iamstate.outputs.report import (
    PROGRESS_EVERY,
    SHOWN_LEFT,
    Progress,
    report_document,
    report_lines,
    write_report,
)
from iamstate.outputs.text import TextOutput, style_of
from iamstate.plan import planfile
from iamstate.plan.apply import ApplyReport
from iamstate.plan.planner import AccountPlan, plan_account
from iamstate.repository.policy import PolicyDocument
from tests.unit.test_plan import desired_state

CONFIG = AccountConfig("acme", "123456789012", Path("."))
ADMIN = PolicyDocument({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
PASS = PolicyDocument({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}]})


def _escalating() -> AccountPlan:
    """boss becomes administrator (through Admins); x gains a PassRole path (through Ops)."""
    groups = {"Admins": Group("Admins", inline_policies=(("all", ADMIN),)),
              "Ops": Group("Ops", inline_policies=(("pass", PASS),))}
    desired = State({"boss": User("boss", groups=frozenset({"Admins"})),
                     "x": User("x", groups=frozenset({"Ops"}))}, groups)
    return plan_account(CONFIG, desired, State({"boss": User("boss"), "x": User("x")}))


def _console(**options: object) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, color_system=None, **options), buffer  # type: ignore[arg-type]


# -- the registry ----------------------------------------------------------------------------


def test_every_registered_format_is_an_output_class_of_that_name() -> None:
    assert {"text", "markdown", "json"} <= set(FORMATS)
    for name in FORMATS:
        cls = output_class(name)
        assert issubclass(cls, Output) and cls.name == name
    with pytest.raises(KeyError):
        output_class("yaml")


def test_plan_audit_and_validate_offer_every_registered_format() -> None:
    from iamstate.cli import app

    for command in ("plan", "audit", "validate"):
        shown = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
        assert all(name in shown for name in FORMATS), (command, shown)


# -- lines carry a role ----------------------------------------------------------------------


def test_a_change_is_a_headline_with_its_sign_details_and_a_diff_by_role() -> None:
    before = PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    group = Group("Devs", inline_policies=(("read", before),))
    plan = plan_account(CONFIG, State(groups={"Devs": Group("Devs", inline_policies=(
        ("read", PASS),))}), State(groups={"Devs": group}))
    [view] = [ChangeView.of(c) for c in plan.changes]
    assert view.headline.role is Role.HEADLINE and view.headline.sign == "~"
    roles = {line.role for line in view.diff}
    assert roles == {Role.ADDED, Role.REMOVED, Role.CONTEXT}
    assert all(line.text.startswith("+") for line in view.diff if line.role is Role.ADDED)
    create = ChangeView.of(Create(User("jdoe", tags=(("team", "a"),))))
    assert create.headline == Line(Role.HEADLINE, "+ create user jdoe", "+")
    assert [d.role for d in create.details] == [Role.DETAIL]


def test_styles_come_from_roles_never_from_the_words() -> None:
    """A gain whose words look like a new finding (or an admin line) is not styled as one;
    a new finding is bold red whatever its words."""
    assert style_of(Line(Role.GAIN, "! new finding")) == ""
    assert style_of(Line(Role.DETAIL, "new       ESC-X")) == ""
    assert style_of(Line(Role.NEW_FINDING, "anything")) == "bold red"
    assert style_of(Line(Role.HEADLINE, "+ whatever", "-")) == "red"
    assert style_of(Line(Role.HEADLINE, "- whatever", "+")) == "green"


# -- text --------------------------------------------------------------------------------------


def test_text_output_styles_a_new_finding_and_a_destroy_by_role() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=300, force_terminal=True, color_system="standard")
    TextOutput(console).plan([_escalating()])
    text = buffer.getvalue()
    new_finding = next(line for line in text.splitlines() if "ADMIN-EQUIVALENT group/Admins"
                       in line)
    assert "\x1b[1;31m" in new_finding  # bold red
    gain = next(line for line in text.splitlines() if "gains iam:*" in line)
    assert "\x1b[1;31m" not in gain


def test_text_wraps_at_a_terminals_width_under_each_lines_indent() -> None:
    plan = _escalating()
    console, buffer = _console(width=60, force_terminal=True)
    TextOutput(console).plan([plan])
    lines = buffer.getvalue().splitlines()
    assert lines and all(len(line) <= 60 for line in lines)
    # the long finding line continues under its own text (4 spaces), not at column 0
    start = next(i for i, line in enumerate(lines) if "ADMIN-EQUIVALENT group/Admins" in line)
    assert lines[start].startswith("    new ") and lines[start + 1].startswith("    ")
    assert lines[start + 1].strip()


def test_text_in_a_log_keeps_each_line_whole() -> None:
    console, buffer = _console(width=60, soft_wrap=True)
    TextOutput(console).plan([_escalating()])
    text = buffer.getvalue()
    assert any(len(line) > 60 for line in text.splitlines())
    assert "ADMIN-EQUIVALENT group/Admins (critical): Members of group Admins can perform " \
           "every IAM action on every resource" in text


def test_text_validate_says_valid_or_every_error() -> None:
    console, buffer = _console(width=200)
    TextOutput(console).validate(Validation(2, 7, warnings=("w1",)))
    assert "Valid: 2 account(s), 7 user(s)." in buffer.getvalue()
    assert "warning w1" in buffer.getvalue()
    console, buffer = _console(width=200)
    TextOutput(console).validate(Validation(problems=(Problem(Path("a.yaml"), 3, "bad"),)))
    assert "error a.yaml:3: bad" in buffer.getvalue()
    assert "1 error(s); nothing was changed in AWS." in buffer.getvalue()


# -- markdown ----------------------------------------------------------------------------------


def test_markdown_output_writes_the_plan_comment_text() -> None:
    plan = plan_account(CONFIG, desired_state(), State())
    console, buffer = _console(width=40)  # no wrapping: markdown is written as it is
    MarkdownOutput(console).plan([plan])
    assert buffer.getvalue() == render_markdown([plan])


def test_markdown_people_blocks_are_diffs_by_role() -> None:
    text = render_markdown([_escalating()])
    assert "<details><summary>boss: (1 gained, 0 lost)</summary>" in text
    assert "+ iam:* on *  (via group/Admins inline all)" in text
    [block] = [b for b in people_blocks(_escalating()) if b.who.text == "boss:"]
    assert block.count(Role.GAIN) == 1 and block.count(Role.LOSS) == 0


def test_markdown_validate_lists_errors_escaped() -> None:
    console, buffer = _console(width=200)
    MarkdownOutput(console).validate(Validation(problems=(
        Problem(Path("a.yaml"), 3, "<!-- hidden"),)))
    assert "**1 error(s)**" in buffer.getvalue() and "<!--" not in buffer.getvalue()


# -- json --------------------------------------------------------------------------------------


def test_json_output_is_the_plan_file_document() -> None:
    plan = _escalating()
    console, buffer = _console(width=40)
    JsonOutput(console).plan([plan])
    assert json.loads(buffer.getvalue()) == json.loads(json.dumps(planfile.document([plan])))


def test_json_validate_gives_each_error_its_file_and_line() -> None:
    console, buffer = _console(width=40)
    JsonOutput(console).validate(Validation(problems=(Problem(Path("a.yaml"), 3, "bad"),)))
    assert json.loads(buffer.getvalue()) == {
        "valid": False, "accounts": 0, "users": 0, "warnings": [],
        "errors": [{"file": "a.yaml", "line": 3, "message": "bad"}]}


# -- audit: every format lays findings out itself -------------------------------------------

AUDITED = {"acme": [
    Finding("IAM-013", "account/root", "critical", "root has no MFA", "enable MFA",
            references=("CIS v4.0.1 1.5", "CIS v7.0 2.5")),
    Finding("IAM-004", "user/jdoe", "medium", "a | pipe <b>and</b> markup", "fix | it"),
], "quiet": []}


def test_every_format_lays_out_an_audit() -> None:
    for name in FORMATS:
        console, buffer = _console(width=200)
        output_class(name)(console).audit(AUDITED)
        assert buffer.getvalue().strip(), name


def test_text_audit_says_rule_cis_ids_subject_and_fix_styled_by_severity() -> None:
    console, buffer = _console(width=200)
    TextOutput(console).audit(AUDITED)
    text = buffer.getvalue()
    assert "Audit of acme: 2 findings" in text and "Audit of quiet: 0 findings" in text
    assert "  IAM-013 (CIS 1.5 / 2.5) account/root: root has no MFA" in text
    assert "      fix: enable MFA" in text
    assert "IAM-004 user/jdoe: a | pipe <b>and</b> markup" in text
    buffer = io.StringIO()
    TextOutput(Console(file=buffer, width=200, force_terminal=True,
                       color_system="standard")).audit(AUDITED)
    critical, medium = (line for line in buffer.getvalue().splitlines()
                        if "IAM-013" in line or "IAM-004" in line)
    assert "\x1b[1;31m" in critical and "\x1b[1;31m" not in medium


def test_markdown_audit_is_a_table_whose_cells_cannot_break_it() -> None:
    console, buffer = _console(width=40)
    MarkdownOutput(console).audit(AUDITED)
    text = buffer.getvalue()
    assert "### Audit of `acme`: 2 findings" in text
    assert "| IAM-013 CIS 1.5 / 2.5 | `account/root` | root has no MFA | enable MFA |" in text
    row = next(line for line in text.splitlines() if "IAM-004" in line)
    assert row.count(" | ") == 3 and "\\|" in row and "<b>" not in row


def test_json_audit_keeps_its_keys() -> None:
    console, buffer = _console(width=40)
    JsonOutput(console).audit(AUDITED)
    assert json.loads(buffer.getvalue()) == {"acme": [
        {"rule": "IAM-013", "resource": "account/root", "message": "root has no MFA",
         "fix": "enable MFA", "cis": "CIS 1.5 / 2.5"},
        {"rule": "IAM-004", "resource": "user/jdoe", "message": "a | pipe <b>and</b> markup",
         "fix": "fix | it", "cis": ""}], "quiet": []}


def test_validate_format_json_on_the_command_line(example_repo: Path) -> None:
    from iamstate.cli import app

    result = CliRunner().invoke(app, ["--repo", str(example_repo), "validate", "--format",
                                      "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["valid"] is True
    (example_repo / "accounts/sandbox/broken.yaml").write_text("users: [1, 2]\n")
    result = CliRunner().invoke(app, ["--repo", str(example_repo), "validate", "--format",
                                      "json"])
    assert result.exit_code == 1
    errors = json.loads(result.output)["errors"]
    assert errors and errors[0]["file"].endswith("broken.yaml") and errors[0]["line"] >= 1


# -- documents as written ----------------------------------------------------------------------


def test_a_document_diff_shows_each_side_as_written() -> None:
    """Compared by meaning, shown as written: the live side as AWS returns it, the
    repository's as its file has it (statement order, condition key case, scalars)."""
    mfa = {"Effect": "Deny", "Action": "*", "Resource": "*",
           "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
    read = {"Effect": "Allow", "Action": "S3:GetObject", "Resource": "*"}
    repo = PolicyDocument({"Version": "2012-10-17", "Statement": [
        mfa, read, {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]})
    lines = document_diff(None, repo)
    assert '+          "aws:MultiFactorAuthPresent": "false"' in lines
    assert '+      "Action": "s3:PutObject",' in lines  # a scalar stays a scalar
    assert '+      "Action": "S3:GetObject",' in lines  # its case kept
    assert next(line for line in lines if '"Effect"' in line) == '+      "Effect": "Deny",'
    live = PolicyDocument({"Version": "2012-10-17", "Statement": [read, mfa]})
    plan = plan_account(CONFIG, State(groups={"G": Group("G", inline_policies=(
        ("p", repo),))}), State(groups={"G": Group("G", inline_policies=(("p", live),))}))
    [view] = [ChangeView.of(c) for c in plan.changes]
    removed = [line.text for line in view.diff if line.role is Role.REMOVED]
    added = [line.text for line in view.diff if line.role is Role.ADDED]
    assert '+      "Action": "s3:PutObject",' in added
    assert all(line[1:] in [x[1:] for x in document_diff(live, None)] for line in removed)
    same = PolicyDocument({"Statement": [mfa, read], "Version": "2012-10-17"})
    unchanged = plan_account(CONFIG, State(groups={"G": Group("G", inline_policies=(
        ("p", same),))}), State(groups={"G": Group("G", inline_policies=(("p", live),))}))
    assert unchanged.changes == ()  # the same meaning: no change, so no diff


# -- mermaid -----------------------------------------------------------------------------------


def _finding(principal: str, via: tuple[str, ...], *actions: str,
             status: str = "new") -> EscalationFinding:
    return EscalationFinding("ESC-TEST", principal, "high", "d", via,
                       reach=tuple(Reach(a, ("*",)) for a in actions), status=status)


def test_the_graph_draws_user_group_action_target() -> None:
    lines = escalation_graph([_finding("user/kim", ("group/Ops inline p",), "iam:PassRole")])
    nodes = dict(re.findall(r'^  (n\d+)\["([^"]*)"\]$', "\n".join(lines), re.M))
    edges = re.findall(r"^  (n\d+) --> (n\d+)$", "\n".join(lines), re.M)
    named = [(nodes[a], nodes[b]) for a, b in edges]
    assert named == [("user/kim", "group/Ops"), ("group/Ops", "iam:PassRole"),
                     ("iam:PassRole", "*")]
    assert escalation_graph([_finding("user/kim", (), "iam:PassRole", status="gone")]) == []


def test_the_graph_is_bounded_and_says_what_it_left_out() -> None:
    many = [_finding(f"user/u{i}", (f"group/g{i} inline p",), "iam:PassRole",
                     f"lambda:Create{i}") for i in range(60)]
    lines = escalation_graph(many)
    assert _structurally_valid(lines)
    nodes = [line for line in lines if re.fullmatch(r'  n\d+\[".*"\]', line)]
    assert len(nodes) <= MAX_NODES
    [more] = [line for line in lines if line.startswith("  more[")]
    drawn = sum(1 for line in nodes if '"user/' in line)
    assert f"{60 - drawn} more new paths not drawn" in more and drawn > 0


def test_labels_cannot_break_out_of_the_graph_or_the_comment() -> None:
    hostile = 'a"] --> x["b` ```<!-- ]'
    assert label(hostile).startswith('"a#34;#93; --#62; x#91;#34;b#96; ')
    assert '"' not in label(hostile)[1:-1] and "`" not in label(hostile)
    assert "<" not in label(hostile) and "]" not in label(hostile)[1:-1]


def _structurally_valid(lines: list[str]) -> bool:
    """The strict shape iamstate writes: a fenced `graph LR`, node lines with quoted labels
    of safe characters, edges between declared nodes."""
    if lines[:2] != ["```mermaid", "graph LR"] or lines[-1] != "```":
        return False
    declared: set[str] = set()
    for line in lines[2:-1]:
        node = re.fullmatch(r'  (n\d+|more)\["[A-Za-z0-9 _.:/*@+=,$#;-]*"\]', line)
        edge = re.fullmatch(r"  (n\d+) --> (n\d+)", line)
        if node:
            declared.add(node[1])
        elif not (edge and {edge[1], edge[2]} <= declared):
            return False
    return True


MERMAID = Path(__file__).parent.parent / "mermaid_check"


def _mermaid_parse(diagrams: list[str]) -> list[dict[str, object]]:
    """mermaid's own parser (tests/mermaid_check, `npm ci` on first use)."""
    import fcntl
    import shutil

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node is not installed")  # the structural test still runs
    if not (MERMAID / "node_modules").is_dir():
        with (MERMAID / ".npm-ci.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (MERMAID / "node_modules").is_dir():
                subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"],
                               cwd=MERMAID, check=True, capture_output=True)
    done = subprocess.run(["node", "check.mjs"], cwd=MERMAID, input=json.dumps(diagrams),
                          capture_output=True, text=True, check=True, timeout=120)
    answers: list[dict[str, object]] = json.loads(done.stdout)
    return answers


def test_the_graphs_parse_with_mermaids_own_parser() -> None:
    hostile = 'a"] --> x["b` ```<!-- ] {x} (y) | & #quot;'
    graphs = [escalation_graph([_finding("user/kim", ("group/Ops inline p",), "iam:PassRole",
                                         "ec2:RunInstances")]),
              escalation_graph([_finding(f"user/{hostile}", (f"group/{hostile} inline p",),
                                         f"iam:{hostile}")]),
              escalation_graph([_finding(f"user/u{i}", (f"group/g{i} x",), "iam:PassRole")
                                for i in range(60)]),
              *(section_graph(plan) for plan in (_escalating(),))]
    texts = ["\n".join(lines[1:-1]) for lines in graphs]
    assert all(_structurally_valid(lines) for lines in graphs)
    answers = _mermaid_parse([*texts, "graph LR\n  n0[\"a\"b\"]"])
    assert all(a["ok"] for a in answers[:-1]), answers
    assert answers[-1]["ok"] is False  # the parser does refuse a broken label


def section_graph(plan: AccountPlan) -> list[str]:
    """The graph as the account's section of the PR comment holds it."""
    text = section_text(plan, "", 0).split("\n")
    start = text.index("```mermaid")
    return text[start:text.index("```", start) + 1]


def test_the_graph_is_inside_the_verified_section() -> None:
    plan = _escalating()
    body = render_summary([(plan, planfile.account_to_json(plan)["digest"])], "", "0.1")
    parsed = parse_comment(body)
    assert parsed is not None and parsed.compose() == body
    [section] = parsed.sections
    assert "```mermaid" in section.text and well_formed(section.text)
    assert "**New escalation paths**" in section.text
    assert "```mermaid" not in render_markdown([plan_account(CONFIG, desired_state(),
                                                             State())])


# -- apply reports -----------------------------------------------------------------------------


def _report(done: int, left: int, failed: int = 0) -> ApplyReport:
    users = [Create(User(f"u{i:04d}")) for i in range(done + left + failed)]
    return ApplyReport("acme", done=list(users[:done]),
                       failed=[(c, "boom") for c in users[done:done + failed]],
                       not_done=list(users[done + failed:]), interrupted=True)


def test_a_stopped_apply_reports_counts_not_every_change() -> None:
    report = _report(1500, 100, 1)
    lines = report_lines(report)
    assert "Done (1500):" in lines and "  create user: 1,500" in lines
    assert "Failed (1):" in lines and "  + create user u1500: boom" in lines
    assert "Not done (100):" in lines
    shown = [line for line in lines if line.startswith("  + create user")]
    assert len(shown) == 1 + SHOWN_LEFT  # the failure and the first of those left
    assert f"  ... and {100 - SHOWN_LEFT:,} more:" in lines
    assert len(lines) < 40


def test_progress_says_counts_every_so_many_changes_of_a_step() -> None:
    said: list[str] = []
    progress = Progress(said.append)
    for change in _report(120, 0).done:
        progress(change)
    assert said == [f"  applied {n} change(s); create user: {n}"
                    for n in (PROGRESS_EVERY, 2 * PROGRESS_EVERY)]


def test_the_report_file_lists_every_change(tmp_path: Path) -> None:
    report = _report(3, 2, 1)
    write_report(tmp_path / ".iamstate/apply-report.json", [report], tmp_path)
    data = json.loads((tmp_path / ".iamstate/apply-report.json").read_text())
    assert data == report_document([report])
    [account] = data["accounts"]
    assert account["outcome"] == "interrupted"
    assert [e["name"] for e in account["done"]] == ["u0000", "u0001", "u0002"]
    assert account["failed"] == [{"action": "create", "kind": "user", "name": "u0003",
                                  "headline": "+ create user u0003", "error": "boom"}]
    assert len(account["not_done"]) == 2


def test_the_report_file_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    repo = tmp_path / "repo"
    (repo / ".iamstate").mkdir(parents=True)
    (repo / ".iamstate/apply-report.json").symlink_to(outside)
    with pytest.raises((OSError, ValueError)):
        write_report(repo / ".iamstate/apply-report.json", [_report(1, 0)], repo)
    assert not outside.exists()


# -- one consequences model --------------------------------------------------------------------


def test_consequences_round_trip_through_the_plan_file_exactly() -> None:
    plan = _escalating()
    assert plan.consequences is not None
    data = json.loads(json.dumps(planfile.account_to_json(plan)))
    back = planfile.account_from_json(data)
    assert back.consequences == plan.consequences
    assert planfile.account_to_json(back) == data  # the same bytes, so the same digest
    boss = plan.consequences.users["boss"]
    assert isinstance(boss, UserConsequence) and boss.admin and not boss.admin_before
    assert list(boss.to_json()) == ["gains", "losses", "admin", "admin_before"]


def test_a_plan_file_that_lost_a_consequence_field_is_refused() -> None:
    """The untyped shape read a missing field as a default and showed a wrong comment."""
    data = json.loads(json.dumps(planfile.account_to_json(_escalating())))
    del data["consequences"]["users"]["boss"]["admin_before"]
    with pytest.raises(PlanFileError):
        planfile.account_from_json(data)
    assert Consequences.from_json({"users": {}, "findings": []}) == Consequences({}, ())
