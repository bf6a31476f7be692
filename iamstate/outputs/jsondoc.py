"""JSON for machines: a plan is its plan file's document (format 2, documented in the
README), so a script reads the same data apply checks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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


    def validate(self, result: Validation) -> None:
        self.write(json.dumps({
            "valid": result.valid, "accounts": result.accounts, "users": result.users,
            "errors": [{"file": str(p.file), "line": p.line, "message": p.message}
                       for p in result.problems],
            "warnings": [str(w) for w in result.warnings]}, indent=2))
