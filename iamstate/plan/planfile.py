"""The plan file: JSON <-> plans, its digest, and why a saved plan is stale.

Format 2 (documented in the README): every change carries its model objects as data,
`{"action", "kind", "name", "detail": {"change", "before", "after"}}`, so the file alone is
enough to render the plan again. The digest is taken over that data (never over rendered
text such as a diff), so a change in how plans are shown never makes a reviewed plan stale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from iamstate.analysis.meaning import Consequences
from iamstate.entities.io import from_data, to_data
from iamstate.errors import PlanFileError
from iamstate.model.account import AccountConfig
from iamstate.model.changes import CHANGE_TYPES, Change, after_of, before_of, change_type_name
from iamstate.model.state import digest_of
from iamstate.plan.kinds import KINDS, kind_of
from iamstate.plan.kinds.base import Kept, labelled
from iamstate.plan.planner import AccountPlan
from iamstate.repository.files import write_text_safely

FORMAT_VERSION = 2


def change_to_json(change: Change) -> dict[str, Any]:
    kind = kind_of(change)
    before, after = before_of(change), after_of(change)
    return {"action": change.action, "kind": kind.name, "name": kind.key(change.subject),
            "detail": {"change": change_type_name(change),
                       "before": None if before is None else to_data(before),
                       "after": None if after is None else to_data(after)}}


def change_from_json(data: Mapping[str, Any]) -> Change:
    kind = KINDS[data["kind"]]
    detail = data["detail"]
    cls = CHANGE_TYPES[detail["change"]]
    values = {side: from_data(kind.model, detail[side]) for side in ("before", "after")
              if detail.get(side) is not None}
    change: Change = cls(**values)
    return change


def account_to_json(plan: AccountPlan, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account": plan.config.name, "account_id": plan.config.account_id,
        "live_digest": plan.live_digest, "desired_digest": plan.desired_digest,
        "changes": [change_to_json(c) for c in plan.changes],
        # a kept item's kind as plans say it (its label), as plan files always have
        "kept": [{"kind": k.label, "name": k.name, "reason": k.reason} for k in plan.kept],
        "consequences": plan.consequences.to_json() if plan.consequences else None,
        "summary": plan.summary(),
        **(extra or {}),
    }
    body["digest"] = digest(body)
    return body


def digest(body: Mapping[str, Any]) -> str:
    """Fingerprint of one account's plan: its changes (model data), what it keeps, and the
    digests of both states."""
    return digest_of({k: v for k, v in body.items() if k not in ("digest", "summary")})


def account_from_json(data: Mapping[str, Any]) -> AccountPlan:
    """A plan read back from a plan file (to render it; apply always plans again)."""
    try:
        config = AccountConfig(data["account"], data["account_id"], Path("."))
        changes = tuple(change_from_json(c) for c in data["changes"])
        kept = tuple(Kept(labelled(k["kind"]), k["name"], k["reason"])
                     for k in data.get("kept", ()))
        meaning = data.get("consequences")
        return AccountPlan(config, changes, data["live_digest"], data["desired_digest"], kept,
                           Consequences.from_json(meaning) if meaning else None)
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFileError(f"plan file: an account entry is not a plan ({error})") from None


def document(plans: Sequence[AccountPlan],
             extras: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    entries = [account_to_json(p, extras[i] if extras else None) for i, p in enumerate(plans)]
    return {"format_version": FORMAT_VERSION, "accounts": entries}


def write(path: Path, doc: Mapping[str, Any], root: Path | None = None) -> None:
    """Write the plan file, never through a link planted under `root` (the repository)."""
    try:
        write_text_safely(path, json.dumps(doc, indent=2, allow_nan=False) + "\n", root)
    except OSError as error:
        raise PlanFileError(f"cannot write the plan file {path}: {error.strerror or error}"
                            ) from None
    except ValueError as error:  # NaN or an infinity: validate refuses those in documents
        raise PlanFileError(f"cannot write the plan file {path}: {error}") from None


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except IsADirectoryError:
        raise PlanFileError(f"{path}: is a folder, not a plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"{path}: not a plan file ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
        raise PlanFileError(f"{path}: not an iamstate plan file: make one with "
                            f"`iamstate plan --out {path}`")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: a plan file of format_version {version}, and this iamstate reads "
            f"format_version {FORMAT_VERSION}: plan again with this version "
            f"(`iamstate plan --out {path}`), review it, and apply that")
    names: set[str] = set()
    for entry in data["accounts"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("account"), str):
            raise PlanFileError(f"{path}: an account entry has no name")
        if entry["account"] in names:
            raise PlanFileError(f"{path}: account {entry['account']} is in the plan twice "
                                "(edited by hand?): nothing was changed; plan again")
        names.add(entry["account"])
    return data


def stale_reason(name: str, saved: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    reasons = []
    if saved.get("live_digest") != now["live_digest"]:
        reasons.append("live state changed")
    if saved.get("desired_digest") != now["desired_digest"]:
        reasons.append("the repository changed")
    if not reasons:
        reasons.append("the plan file does not match what iamstate plans (edited by hand?)")
    return (f"account {name}: the plan is stale: {' and '.join(reasons)} since it was made. "
            "Nothing was changed. Run `iamstate plan --out FILE` again, review it, apply that.")
