"""GitLab as the CI host: merge-request notes, merged merge requests of a commit, the drift
issue, through GitLab's REST API v4; the run's merge request and commit from GitLab CI's
variables; the job's OIDC ID token for AWS from `id_tokens:`.

The API token is a project (or group) access token in a masked CI/CD variable,
IAMSTATE_GITLAB_TOKEN (role Reporter, scope `api`: notes and issues, never a push). The bot
is that token's own user (`GET /user`): only its notes and issues count, checked by user id,
which no one else can take. A merge request pipeline runs the merge request's own
`.gitlab-ci.yml`, so whoever opens one can post notes as the bot too: what a note says is
therefore checked word for word against a fresh plan before anything applies (`hosts.ci`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote

from iamstate.errors import GitLabError, HostError
from iamstate.hosts.base import ChangeRequest, Host, Issue, Note, when
from iamstate.hosts.rest import Rest

API = "https://gitlab.com/api/v4"
TOKEN_VARIABLE = "IAMSTATE_GITLAB_TOKEN"
ID_TOKEN_VARIABLE = "IAMSTATE_ID_TOKEN"  # the `id_tokens:` entry the jobs declare
LAST_APPLY_CANDIDATES = 20  # successful push pipelines read, newest first, for a branch one
MR_VARIABLE = "IAMSTATE_MR"  # a pipeline run by hand to apply a merge request's follow-up
FOLLOW_UP_HELP = (
    "Review the plan below. To apply exactly this plan, run a pipeline on the default branch "
    "by hand (Build → Pipelines → Run pipeline) with the variable `IAMSTATE_MR` = {number}; "
    "the `iam-production` environment asks for its approvers first. If anything changes "
    "before then, that run refuses too and posts the new plan here.")


@dataclass
class GitLab(Host):
    project: str  # the project's numeric id, or its path GROUP/PROJECT
    token: str
    api: str = API
    rest: Rest = field(init=False, repr=False)

    name: ClassVar[str] = "GitLab"
    change_noun: ClassVar[str] = "merge request"
    comment_noun: ClassVar[str] = "note"
    change_sigil: ClassVar[str] = "!"

    def __post_init__(self) -> None:
        self.rest = Rest(self.api.rstrip("/"), {"PRIVATE-TOKEN": self.token}, "GitLab",
                         GitLabError)

    @property
    def _project(self) -> str:
        return f"/projects/{quote(self.project, safe='')}"

    @cached_property
    def _user(self) -> dict[str, Any]:
        """The token's own user: the bot."""
        user: dict[str, Any] = self.rest.request("GET", "/user")
        return user

    @property
    def bot(self) -> str:  # type: ignore[override]
        return str(self._user.get("username") or self._user["id"])

    def _by_bot(self, item: Mapping[str, Any]) -> bool:
        author = item.get("author") or {}
        return author.get("id") is not None and author.get("id") == self._user["id"]

    @classmethod
    def detected(cls, environ: Mapping[str, str]) -> bool:
        return "GITLAB_CI" in environ

    @classmethod
    def from_environment(cls) -> GitLab:
        project = os.environ.get("CI_PROJECT_ID") or os.environ.get("CI_PROJECT_PATH")
        token = os.environ.get(TOKEN_VARIABLE)
        if not project:
            raise GitLabError("CI_PROJECT_ID is not set: run this in GitLab CI")
        if not token:
            raise GitLabError(f"{TOKEN_VARIABLE} is not set: give the job a project access "
                              "token (role Reporter, scope api) in a masked CI/CD variable")
        return cls(project, token, os.environ.get("CI_API_V4_URL", API))

    @staticmethod
    def web_identity_token() -> str | None:
        """The token GitLab put in IAMSTATE_ID_TOKEN for this job (`id_tokens:` with the
        audience `iamstate bootstrap` trusts), or None when the job asked for none."""
        return os.environ.get(ID_TOKEN_VARIABLE) or None

    # -- the run -----------------------------------------------------------------------

    def change_request(self, given: int | None) -> int:
        """The merge request of this run: given, or the merge request pipeline's."""
        if given is not None:
            return given
        number = os.environ.get("CI_MERGE_REQUEST_IID", "")
        source = os.environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "")
        if number.isdigit() and source and source == os.environ.get("CI_DEFAULT_BRANCH"):
            raise GitLabError(
                f"merge request !{number} is opened from a branch named {source!r}, like the "
                "default branch: its pipelines get ID tokens naming that branch (what the "
                "apply role trusts), and its merge would stand for another's. Not supported: "
                "open merge requests from a branch of their own")
        if number.isdigit():
            return int(number)
        raise GitLabError("no --pr given and no merge request in this pipeline "
                          "(CI_MERGE_REQUEST_IID): run it in a merge request pipeline")

    def head_commit(self) -> str:
        return os.environ.get("CI_COMMIT_SHA", "")

    def plan_comment_frozen(self) -> str | None:
        """A merge train's pipeline is a merge request pipeline too, run after the approval:
        it must not rewrite the note that was reviewed (merge trains are not supported yet)."""
        if os.environ.get("CI_MERGE_REQUEST_EVENT_TYPE") == "merge_train":
            return "a merge train pipeline runs after the review"
        return None

    def follow_up_help(self, number: int) -> str:
        return FOLLOW_UP_HELP.format(number=number)

    def applied_branch(self) -> str:
        """The pipeline's branch (the default branch when GitLab does not say); a tag
        pipeline applies nothing."""
        if os.environ.get("CI_COMMIT_TAG"):
            raise GitLabError(f"this pipeline runs for the tag {os.environ['CI_COMMIT_TAG']!r}, "
                              "not a branch: iamstate applies only the default branch")
        return (os.environ.get("CI_COMMIT_BRANCH") or os.environ.get("CI_DEFAULT_BRANCH")
                or "main")

    def last_applied(self) -> str | None:
        """The commit of the newest pipeline on this branch, started by a push, that
        succeeded: the apply job runs in every such pipeline (GitLab's record). A tag can
        be named like the branch, and `ref=` matches both: each candidate's own record
        must say it is no tag pipeline. (`scope=branches` is no filter for this: GitLab
        takes the newest pipeline of each branch first, which is this running one.) What
        the list answers is checked too, not trusted to match the query."""
        branch = self.applied_branch()
        found = self.rest.request("GET", f"{self._project}/pipelines?ref={quote(branch)}"
                                         "&status=success&source=push&order_by=id"
                                         f"&sort=desc&per_page={LAST_APPLY_CANDIDATES}")
        for pipeline in found or ():
            if (pipeline.get("ref"), pipeline.get("status"), pipeline.get("source")) != (
                    branch, "success", "push") or not pipeline.get("sha"):
                continue
            own = self.rest.request("GET", f"{self._project}/pipelines/{int(pipeline['id'])}")
            if (own or {}).get("tag") is False and own.get("sha") == pipeline["sha"]:
                return str(pipeline["sha"])
        return None

    # -- notes -------------------------------------------------------------------------

    def notes(self, number: int) -> list[Note]:
        """The merge request's notes, oldest first; GitLab's own (system) notes left out."""
        found = self.rest.paged(f"{self._project}/merge_requests/{number}/notes"
                                "?sort=asc&order_by=created_at")
        return [Note(int(n["id"]), n.get("body") or "", self._by_bot(n), when(n["created_at"]),
                     when(n["updated_at"])) for n in found if not n.get("system")]

    def create_note(self, number: int, body: str) -> None:
        self.rest.request("POST", f"{self._project}/merge_requests/{number}/notes",
                          {"body": body})

    def update_note(self, number: int, note: Note, body: str) -> None:
        self.rest.request("PUT", f"{self._project}/merge_requests/{number}/notes/{note.id}",
                          {"body": body})

    # -- merge requests and commits ----------------------------------------------------

    def change(self, number: int) -> ChangeRequest:
        return _change(self.rest.request("GET", f"{self._project}/merge_requests/{number}"))

    def changes_of_commit(self, commit: str) -> list[ChangeRequest]:
        """Every page: one left out could be a second merge request merged as that commit,
        or one merged into another branch, which must refuse."""
        found = self.rest.paged(f"{self._project}/repository/commits/"
                                f"{quote(commit, safe='')}/merge_requests")
        return [_change(m) for m in found]

    def follows(self, base: str, head: str) -> bool:
        """`base` is an ancestor of `head` (or it): their merge base is `base`."""
        try:
            found = self.rest.request("GET", f"{self._project}/repository/merge_base?"
                                             f"refs[]={quote(base)}&refs[]={quote(head)}")
        except HostError:
            return False
        return bool(found) and found.get("id") == base

    def commits_between(self, base: str, head: str) -> list[str]:
        compared = self.rest.request("GET", f"{self._project}/repository/compare?"
                                            f"from={quote(base)}&to={quote(head)}")
        return [str(c["id"]) for c in (compared or {}).get("commits") or ()]

    # -- issues ------------------------------------------------------------------------

    def bot_issues(self) -> list[Issue]:
        found = self.rest.paged(f"{self._project}/issues?state=opened"
                                f"&author_id={self._user['id']}")
        return [Issue(int(i["iid"]), i.get("description") or "") for i in found
                if self._by_bot(i)]

    def create_issue(self, title: str, body: str) -> int:
        created = self.rest.request("POST", f"{self._project}/issues",
                                    {"title": title, "description": body})
        return int(created["iid"])

    def update_issue(self, number: int, title: str, body: str) -> None:
        self.rest.request("PUT", f"{self._project}/issues/{number}",
                          {"title": title, "description": body})


def _change(found: Mapping[str, Any]) -> ChangeRequest:
    """A merge request as iamstate needs it. Its merge on the target branch is the merge
    commit, or the squash commit, or with fast-forward merges (no merge commit) its head."""
    merged = found.get("state") == "merged" and bool(found.get("merged_at"))
    commits = {found.get("merge_commit_sha"), found.get("squash_commit_sha")} - {None, ""}
    if merged and not commits and found.get("sha"):
        commits = {found["sha"]}
    return ChangeRequest(int(found["iid"]), when(found["merged_at"]) if merged else None,
                         frozenset(str(c) for c in commits) if merged else frozenset(),
                         str(found.get("target_branch") or ""))
