"""JSON for machines: a plan is its plan file's document (format 2, documented in the
README), so a script reads the same data apply checks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from iamstate.analysis.findings import Finding, cis_label
from iamstate.outputs.base import Output, Validation
from iamstate.plan import planfile
from iamstate.plan.planner import AccountPlan


def render_json(plans: Sequence[AccountPlan],
                extras: Sequence[Mapping[str, Any]] | None = None) -> str:
    return json.dumps(planfile.document(plans, extras), indent=2, sort_keys=False)


class JsonOutput(Output):
    name = "json"

    def plan(self, plans: Sequence[AccountPlan]) -> None:
        self.write(render_json(plans))

    def audit(self, findings: Mapping[str, Sequence[Finding]]) -> None:
        self.write(json.dumps({name: [{"rule": f.rule, "resource": f.subject,
                                       "message": f.message, "fix": f.fix,
                                       "cis": cis_label(f.references)} for f in found]
                               for name, found in findings.items()}, indent=2))

    def validate(self, result: Validation) -> None:
        self.write(json.dumps({
            "valid": result.valid, "accounts": result.accounts, "users": result.users,
            "errors": [{"file": str(p.file), "line": p.line, "message": p.message}
                       for p in result.problems],
            "warnings": [str(w) for w in result.warnings]}, indent=2))
