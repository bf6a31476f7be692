"""The model by its old names, in one import: each entity's model lives in its own package
(iamstate/entities/), the state in model/state.py, the account in model/account.py."""

import iamstate.entities.registry  # noqa: F401 (the entities and their kinds, registered)
from iamstate.entities.group.model import Group, GroupAttachment, GroupPolicy
from iamstate.entities.io import IF_SET, NOT_IN_PLAN, from_data, to_data
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.password_policy.model import (
    OFF_WHEN_ZERO,
    PASSWORD_POLICY_DEFAULTS,
    PasswordPolicy,
    api_name,
    yaml_name,
)
from iamstate.entities.role.model import Role
from iamstate.entities.user.model import (
    Credentials,
    LoginProfile,
    Membership,
    User,
    UserAttachment,
    UserPolicy,
)
from iamstate.model.account import (
    AcceptedRisk,
    Account,
    AccountConfig,
    Ignore,
    ignored,
    matching_glob,
)
from iamstate.model.location import Location
from iamstate.model.state import Outside, State, digest_of, iter_sorted, state_as_dict

__all__ = [
    "IF_SET", "NOT_IN_PLAN", "OFF_WHEN_ZERO", "PASSWORD_POLICY_DEFAULTS", "AcceptedRisk",
    "Account", "AccountConfig", "Credentials", "Group", "GroupAttachment", "GroupPolicy",
    "Ignore", "Location", "LoginProfile", "ManagedPolicy", "Membership", "Outside",
    "PasswordPolicy", "Role", "State", "User", "UserAttachment", "UserPolicy", "api_name",
    "digest_of", "from_data", "ignored", "iter_sorted", "matching_glob", "state_as_dict",
    "to_data", "yaml_name",
]
