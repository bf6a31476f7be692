"""The account password policy, by UpdateAccountPasswordPolicy's names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PASSWORD_POLICY_DEFAULTS: dict[str, int | bool] = {
    # What UpdateAccountPasswordPolicy sets for a field it is not given.
    "MinimumPasswordLength": 6,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "MaxPasswordAge": 0,
    "PasswordReusePrevention": 0,
    "HardExpiry": False,
}
# 0 means "off" for these two, but the API only accepts 1 and up (and account.yaml leaves
# them out): what is sent and what is written leaves them out.
OFF_WHEN_ZERO = ("MaxPasswordAge", "PasswordReusePrevention")


@dataclass(frozen=True)
class PasswordPolicy:
    """Settings by UpdateAccountPasswordPolicy's names. Desired: only the declared ones
    (undeclared settings keep their live values); live: all of them."""

    settings: tuple[tuple[str, int | bool], ...]

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], complete: bool = False) -> PasswordPolicy:
        known = {k: fields[k] for k in fields if k in PASSWORD_POLICY_DEFAULTS}
        merged = {**PASSWORD_POLICY_DEFAULTS, **known} if complete else known
        return cls(tuple(sorted(merged.items())))

    @classmethod
    def from_yaml(cls, fields: Mapping[str, Any]) -> PasswordPolicy:
        """From account.yaml's snake_case names (`minimum_password_length`)."""
        return cls.from_fields({api_name(k): v for k, v in fields.items()})

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.settings)

    def api_settings(self) -> dict[str, int | bool]:
        """What UpdateAccountPasswordPolicy is sent: every setting but the ones that are off."""
        return {k: v for k, v in self.settings if not (k in OFF_WHEN_ZERO and v == 0)}

    def yaml_fields(self) -> dict[str, int | bool]:
        """As account.yaml writes it: snake_case names, the ones that are off left out."""
        return {yaml_name(k): v for k, v in self.api_settings().items()}

    def over(self, base: PasswordPolicy | None) -> PasswordPolicy:
        """These settings laid over `base` (or over IAM's defaults when there is none)."""
        under = base.as_dict() if base is not None else PASSWORD_POLICY_DEFAULTS
        return PasswordPolicy(tuple(sorted({**under, **self.as_dict()}.items())))


def api_name(field: str) -> str:
    """`minimum_password_length` (account.yaml) -> `MinimumPasswordLength` (the API)."""
    return "".join(part.capitalize() for part in field.split("_"))


def yaml_name(field: str) -> str:
    """`MinimumPasswordLength` (the API) -> `minimum_password_length` (account.yaml)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()
