"""CI hosts: what the CI jobs call (`ci.py`), the host seam (`base.py`), and the hosts.

A new host is a module here with a `Host` subclass, and one entry in `HOSTS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from iamstate.errors import HostError
from iamstate.hosts.base import Host
from iamstate.hosts.github import GitHub
from iamstate.hosts.gitlab import GitLab

HOSTS: tuple[type[Host], ...] = (GitHub, GitLab)


def host_type(environ: Mapping[str, str] | None = None) -> type[Host] | None:
    """The host whose CI this process runs in (its variables are set), first listed first."""
    found = os.environ if environ is None else environ
    return next((kind for kind in HOSTS if kind.detected(found)), None)


def current() -> Host:
    """The API of the host this job runs on (HostError outside CI, saying what is missing)."""
    kind = host_type()
    if kind is None:
        names = " or ".join(h.name for h in HOSTS)
        raise HostError(f"no CI host found: run this in a CI job of {names} (neither's "
                        "variables are set)")
    return kind.from_environment()


def web_identity_token() -> str | None:
    """The job's OIDC token for AWS from the host it runs on, or None (not in CI, or the
    job asked for none): then boto3's own credentials are used."""
    kind = host_type()
    return kind.web_identity_token() if kind is not None else None
