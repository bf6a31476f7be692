"""Where a CI job's OIDC identity for AWS comes from. AWS's side knows no CI host: the
command line names the source when it starts (its CI hosts', iamstate/hosts/), so adding a
host never touches the AWS side. Without a source, no token: one's own credentials."""

from __future__ import annotations

from collections.abc import Callable

TokenSource = Callable[[], str | None]  # the CI job's OIDC token for AWS, or None


def _none() -> str | None:
    return None


_source: list[TokenSource] = [_none]


def use(source: TokenSource) -> None:
    """Take the job's token from `source` from now on (the CLI: the CI host's)."""
    _source[0] = source


def web_identity_token() -> str | None:
    return _source[0]()
