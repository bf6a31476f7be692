"""`iamstate --help` and each command's help read as sentences at 80 columns (issue 21): a
docstring's line breaks do not break the text mid-sentence; a line is only cut where the
next word would not fit."""

from __future__ import annotations

import itertools
import re

import pytest
from typer.testing import CliRunner

from iamstate.cli import app

WIDTH = 80
COMMANDS = [[], ["unused"], ["expire"], ["import"], ["bootstrap"], ["schema"], ["apply"],
            ["sandbox"], ["user"], ["user", "add"], ["ci"]]


def help_of(words: list[str]) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], env={
        "COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def rows(panel_text: str) -> list[tuple[str, list[str]]]:
    """The Commands panel as (name, its description's lines)."""
    found: list[tuple[str, list[str]]] = []
    offset = 0
    for line in panel_text.splitlines():
        inner = re.match(r"^│ (.*) │$", line)
        if not inner:
            continue
        offset = offset or len(re.match(r"\S+\s+", inner.group(1)).group(0))  # type: ignore[union-attr]
        name, text = inner.group(1)[:offset].strip(), inner.group(1)[offset:]
        if name:
            found.append((name, [text.rstrip()]))
        elif found:
            found[-1][1].append(text.rstrip())
    return found


def _filled(lines: list[str], width: int) -> list[str]:
    """Lines cut before the next word would have run out of room: each one a defect."""
    broken = []
    for line, following in itertools.pairwise(lines):
        words = following.split()
        if line.strip() and words and len(line.rstrip()) + 1 + len(words[0]) <= width:
            broken.append(f"{line.strip()!r} | {following.strip()!r}")
    return broken


def test_the_command_list_is_wrapped_only_where_the_width_ends() -> None:
    text = help_of([])
    panel = text[text.index("Commands"):]
    listed = rows(panel)
    assert {"unused", "import", "bootstrap", "schema", "expire"} <= {n for n, _ in listed}
    column = max(len(line) for _, lines in listed for line in lines)
    for name, lines in listed:
        assert not _filled(lines, column), (name, _filled(lines, column))
    joined = {name: " ".join(line.strip() for line in lines) for name, lines in listed}
    assert joined["unused"] == ("Per group, what its policies grant that no member used "
                                "(last-accessed data): exit 0 nothing unused, 2 found (or "
                                "written), 1 error.")
    assert "so that plan right after shows no changes." in joined["import"]
    assert "the CI host's OIDC provider, the read-only plan role" in joined["bootstrap"]


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w) or "iamstate" for w in COMMANDS])
def test_each_commands_help_reads_as_sentences(words: list[str]) -> None:
    text = help_of(words)
    assert all(len(line) <= WIDTH for line in text.splitlines())
    description = []
    for line in text.splitlines()[3:]:  # under "Usage:", up to the first panel
        if line.startswith(("╭", "│")):
            break
        description.append(line.rstrip())
    paragraphs = " ".join(description).split("  ")
    assert paragraphs
    assert not _filled([line for line in description if line.strip()], WIDTH - 2)
