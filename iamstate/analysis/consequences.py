"""What a plan means for people: who gains or loses what, who becomes (or stops being)
administrator-equivalent, and which privilege-escalation findings the plan introduces,
accepts or removes. The engines are permissions/ and escalation.py; this module runs them
on the states before and after a plan and sets each finding's status against the
repository's `accepted_risks` (SPEC §3).

A finding that exists both before and after the plan is not the plan's doing (audit reports
standing findings): the plan lists what it introduces (`new`, or `accepted` when
account.yaml accepts it) and what it removes (`gone`). Apply refuses a plan with a `new`
finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from iamstate.analysis.escalation import (
    ADMIN_EQUIVALENT,
    CRITICAL,
    HIGH,
    administrators,
    combine_admin,
    escalation_findings,
    member_findings,
    relevant_actions,
)
from iamstate.analysis.meaning import (
    ACCEPTED,
    GONE,
    NEW,
    UNREADABLE,
    Consequences,
    EscalationFinding,
    PlanGrant,
    UserConsequence,
)
from iamstate.analysis.permissions import (
    Context,
    PermissionEngine,
    PermissionSet,
    UserChange,
    permission_diff,
)
from iamstate.analysis.reach import Reach, reach_within
from iamstate.entities.user.model import User
from iamstate.model.account import AcceptedRisk, AccountConfig
from iamstate.model.state import State


def analysis_context(config: AccountConfig, live: State,
                     documents: Mapping[str, Mapping[str, Any]]) -> Context:
    """What the engines read besides the states: AWS managed documents, and what live
    state holds outside iamstate's management (roles, ignored users), the same before and
    after a plan (iamstate changes neither)."""
    return Context(config.account_id, config.partition, documents, live.outside.roles,
                   live.outside.users)


def _user_consequence(change: UserChange) -> UserConsequence:
    """The engine's answer as the plan holds it (the grants as the plan file writes them:
    a plan read back is equal to this one)."""
    return UserConsequence(tuple(PlanGrant.from_json(g.to_json()) for g in change.gains),
                           tuple(PlanGrant.from_json(g.to_json()) for g in change.losses),
                           change.admin_after, change.admin_before, change.unknown_policies)


def consequences(config: AccountConfig, before: State, after: State,
                 managed_documents: Mapping[str, Mapping[str, Any]]) -> Consequences:
    """Run the engines on the states before and after the plan (one engine: permissions
    are computed once per distinct set of groups and shared by the diff and the findings)."""
    ctx = analysis_context(config, before, managed_documents)
    before, after = before.outside.around(before), before.outside.around(after)
    engine = PermissionEngine(ctx)
    diff = permission_diff(before, after, ctx, engine=engine)
    if _may_change_findings(diff, before, after, engine):
        changes = combine_admin(diff, before, after, ctx, engine)
        old = _all_findings(before, ctx, engine)
        new = _all_findings(after, ctx, engine)
    else:
        # Nothing that changes touches an action any escalation path (or administrator-
        # equivalence) is about: findings and who is an administrator stay as they are.
        admins = administrators(after, ctx, engine)
        changes = {name: replace(change, admin_before=name in admins and admins[name].admin,
                                 admin_after=name in admins and admins[name].admin)
                   for name, change in diff.items()}
        old, new = {}, {}
    # Fail closed: a policy whose document could not be read may grant anything, so a user
    # it newly applies to is a finding (iamstate cannot say what the plan means for them).
    for name, change in changes.items():
        if change.unknown_policies and name in after.users:
            new.setdefault((UNREADABLE, f"user/{name}"), (EscalationFinding(
                UNREADABLE, f"user/{name}", HIGH,
                f"What {', '.join(change.unknown_policies)} grants user {name} could not be "
                "read, so the plan cannot say what it means for them.",
                tuple(change.unknown_policies)), None))
    still_admin = {name for name, change in changes.items()
                   if change.admin_before and change.admin_after}
    if old or new:
        still_admin |= _admins_throughout(before, after, ctx, engine)
    introduced = [k for k in new if not _standing(k, old, new, still_admin)]
    findings = []
    for key in sorted(introduced, key=lambda k: (k[1], k[0])):
        found, group = new[key]
        if group is not None and (found.id, group) in introduced:
            continue  # shown once, on the group that newly carries the path
        risk = _acceptance(config, found, group)
        findings.append(_finding(found, ACCEPTED if risk else NEW,
                                 str(risk.source) if risk and risk.source else None,
                                 _wider_than(config, found, group) if not risk else None))
    for key in sorted(set(old) - set(new), key=lambda k: (k[1], k[0])):
        if old[key][1] is None:
            findings.append(_finding(old[key][0], GONE))
    return Consequences({name: _user_consequence(c) for name, c in changes.items()},
                        tuple(findings))


# A finding, and for a path a user has through a group, that group's principal.
_Found = dict[tuple[str, str], tuple[EscalationFinding, str | None]]


def _all_findings(state: State, ctx: Context, engine: PermissionEngine) -> _Found:
    found: _Found = {k: (f, None) for k, f in state_findings(state, ctx, engine).items()}
    for key, (finding, group) in member_findings(state, ctx, engine).items():
        found.setdefault(key, (finding, group))
    return found


def _admins_throughout(before: State, after: State, ctx: Context, engine: PermissionEngine
                       ) -> set[str]:
    old, new = administrators(before, ctx, engine), administrators(after, ctx, engine)
    return {name for name in set(old) & set(new) if old[name].admin and new[name].admin}


def _standing(key: tuple[str, str], old: _Found, new: _Found, still_admin: set[str]) -> bool:
    """Not the plan's doing: status is about a principal's power, not the route to it. An
    administrator before and after gains nothing; a path that reaches no further than it
    did (whichever policy now grants it) is the same path."""
    kind, _, name = key[1].partition("/")
    if kind == "user" and name in still_admin:
        return True
    if key not in old:
        return False
    return key[0] == ADMIN_EQUIVALENT or reach_within(new[key][0].reach, old[key][0].reach)


def _acceptance(config: AccountConfig, found: EscalationFinding, group: str | None
                ) -> AcceptedRisk | None:
    """The entry accepting the finding's reach: one for the principal, or for the group a
    user has the path through (accepting a group's path accepts it for its members)."""
    principals = (found.principal, group) if group else (found.principal,)
    return next((r for p in principals for r in config.accepted_risks
                 if accepts(r, found.id, p, found.reach)), None)


def accepts(risk: AcceptedRisk, finding_id: str, principal: str, reach: tuple[Reach, ...]
            ) -> bool:
    """Does the entry accept this finding of this principal, reaching this far?"""
    return (risk.id, risk.principal) == (finding_id, principal) and (
        risk.reach is None or reach_within(reach, risk.reach))


def _wider_than(config: AccountConfig, found: EscalationFinding, group: str | None) -> str | None:
    """Where an acceptance of the same path stands that this reach goes beyond."""
    principals = {found.principal, group}
    wider = [r for r in config.accepted_risks if r.id == found.id and r.principal in principals]
    if not wider:
        return None
    return str(wider[0].source) if wider[0].source else f"accounts/{config.name}/account.yaml"


def _may_change_findings(diff: Mapping[str, UserChange], before: State, after: State,
                         engine: PermissionEngine) -> bool:
    """Could the findings differ between the two states? Only through a change that touches
    an action some escalation path needs (or any IAM action): in what a user gains or
    loses, or in what a changed group, or a user with policies of their own, grants —
    sources included (a finding names them: a path that moves to another policy is shown
    again, though nobody gains anything)."""
    if _structure(before) != _structure(after):
        return True  # who is where (paths, memberships, attachments): what paths reach
    relevant = relevant_actions().bits
    for change in diff.values():
        if any(g.action_set.bits & relevant for g in (*change.gains, *change.losses)):
            return True
    moved = {arn for state in (before, after) for policy in state.policies.values()
             if (arn := engine.ctx.arn("policy", policy.path, policy.name))
             and (before.policies.get(policy.name) != after.policies.get(policy.name))}
    for name in set(before.groups) | set(after.groups):
        old, new = before.groups.get(name), after.groups.get(name)
        if old == new and not (new and new.managed_policies & moved):
            continue
        if _relevant_view(_group_perms(before, name, engine), relevant) != \
                _relevant_view(_group_perms(after, name, engine), relevant):
            return True
    for name in set(before.users) | set(after.users):
        was, now = before.users.get(name), after.users.get(name)
        if not any(u and (u.inline_policies or u.attached_policies) for u in (was, now)):
            continue  # all a user has comes from groups: compared above
        if was == now and not (now and now.attached_policies & moved):
            continue
        if _relevant_view(_user_perms(before, was, engine), relevant) != \
                _relevant_view(_user_perms(after, now, engine), relevant):
            return True
    return False


def _group_perms(state: State, name: str, engine: PermissionEngine) -> PermissionSet | None:
    return engine.for_group(state, name) if name in state.groups else None


def _user_perms(state: State, user: User | None, engine: PermissionEngine
                ) -> PermissionSet | None:
    return engine.permission_set(engine.user_key(state, user)) if user else None


def _relevant_view(perms: PermissionSet | None, relevant: int) -> tuple[Any, ...] | None:
    """What a principal is granted, as far as any finding can tell: the grants cut down to
    the relevant actions, with everything else about them (resources, conditions, sources,
    the Denies that restrict them). A change outside this view (a new s3 statement in the
    common group) changes no finding of the principal."""
    if perms is None:
        return None
    return (perms.admin, perms.unknown_policies,
            tuple((bits, g.resources, g.not_resources, g.conditions, g.unless, g.via,
                   g.denied_by) for g in perms.grants
                  if (bits := g.action_set.bits & relevant)))


def _structure(state: State) -> tuple[frozenset[Any], ...]:
    """Everything but the documents' contents: names, paths, memberships, attachments, and
    which policies exist. Escalation paths reach by these (a user moved under a path a
    grant covers, a policy attached that a holder may rewrite), whatever the actions."""
    return (frozenset((u.name, u.path, u.groups, u.attached_policies,
                       tuple(n for n, _ in u.inline_policies)) for u in state.users.values()),
            frozenset((g.name, g.path, g.managed_policies,
                       tuple(n for n, _ in g.inline_policies)) for g in state.groups.values()),
            frozenset((p.name, p.path) for p in state.policies.values()))


def state_findings(state: State, ctx: Context, engine: PermissionEngine | None = None
                   ) -> dict[tuple[str, str], EscalationFinding]:
    """Every escalation finding of a state by (id, principal), and every administrator-
    equivalent user as a finding of its own — also where the engine lets an
    administrators' group "say it all": the gate (and an audit) is about who."""
    engine = engine or PermissionEngine(ctx)
    found = {(f.id, f.principal): f for f in escalation_findings(state, ctx, engine)}
    for name, status in administrators(state, ctx, engine).items():
        if status.admin:
            found.setdefault((ADMIN_EQUIVALENT, f"user/{name}"), EscalationFinding(
                ADMIN_EQUIVALENT, f"user/{name}", CRITICAL,
                f"User {name} is administrator-equivalent through their groups.",
                tuple(f"group/{g}" for g in sorted(state.users[name].groups))))
    return found


def _finding(found: EscalationFinding, status: str, accepted_at: str | None = None,
             wider_than: str | None = None) -> EscalationFinding:
    detail = found.detail
    if wider_than:
        detail += (f" It reaches further than accepted at {wider_than}: a reviewer must "
                   "accept the new reach.")
    return replace(found, detail=detail, status=status, accepted_at=accepted_at)
