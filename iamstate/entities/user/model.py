"""A user and the links a user has: memberships, its console password, the policies
written or attached on it (only ever removed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from iamstate.model.fields import IF_SET, NOT_IN_PLAN
from iamstate.model.location import Location
from iamstate.repository.policy import PolicyDocument


@dataclass(frozen=True)
class Credentials:
    """What a live user holds besides its definition: all of it goes in a teardown."""

    login_profile: bool = False
    access_keys: tuple[str, ...] = ()
    signing_certificates: tuple[str, ...] = ()
    ssh_public_keys: tuple[str, ...] = ()
    service_credentials: tuple[str, ...] = ()
    mfa_devices: tuple[str, ...] = ()
    permissions_boundary: str | None = None

    def describe(self) -> list[str]:
        """Human-readable list, as the plan shows it under a user deletion."""
        items = ["login profile"] if self.login_profile else []
        for label, values in (
            ("access key", self.access_keys),
            ("signing certificate", self.signing_certificates),
            ("SSH public key", self.ssh_public_keys),
            ("service-specific credential", self.service_credentials),
            ("MFA device", self.mfa_devices),
        ):
            items.extend(f"{label} {value}" for value in values)
        if self.permissions_boundary:
            items.append(f"permissions boundary {self.permissions_boundary}")
        return items


@dataclass(frozen=True)
class User:
    name: str
    path: str = "/"
    groups: frozenset[str] = frozenset()
    tags: tuple[tuple[str, str], ...] = ()
    console_access: bool = False
    # Only ever non-empty on the live side: the strategy bans user policies.
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    attached_policies: frozenset[str] = frozenset()
    public_key: str | None = field(default=None, compare=False)
    credentials: Credentials = field(default=Credentials(), compare=False)
    # Live only: what the user holds that iamstate must never touch (ignored groups and
    # ignored policies); a teardown would have to, so the user is kept instead.
    protected: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)
    # `expires:` (YYYY-MM-DD): desired, from the repository; on a deleted user, why it goes.
    expires: str | None = field(default=None, compare=False, metadata=IF_SET)
    # Desired only: memberships that end, (group, YYYY-MM-DD, line of the entry); the group
    # is in `groups` too.
    expiring: tuple[tuple[str, str, int], ...] = field(default=(), compare=False,
                                                       metadata=NOT_IN_PLAN)


@dataclass(frozen=True)
class Membership:
    user: str
    group: str
    expired: str | None = field(default=None, compare=False, metadata=IF_SET)  # why it goes


@dataclass(frozen=True)
class LoginProfile:
    """A console password. Desired: made by apply, its one-time password encrypted to
    `public_key`, whose fingerprint the plan shows (and so a swapped key makes it stale)."""

    user: str
    public_key: str | None = field(default=None, compare=False)
    recipient: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class UserPolicy:
    """An inline policy on a user: only ever removed (the strategy bans user policies)."""

    user: str
    name: str
    document: PolicyDocument


@dataclass(frozen=True)
class UserAttachment:
    """A managed policy attached to a user: only ever detached."""

    user: str
    arn: str
