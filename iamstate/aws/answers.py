"""What AWS's answers say, read without loading its SDK: `validate` imports every entity,
and an entity's apply and read sides read these (botocore itself loads only where a call
is made)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# ListEntitiesForPolicy's lists: (kind in a reference "kind/name", list key, name key)
POLICY_ENTITY_LISTS = (("group", "PolicyGroups", "GroupName"),
                       ("user", "PolicyUsers", "UserName"),
                       ("role", "PolicyRoles", "RoleName"))


def error_code(error: Any) -> str:
    """A botocore ClientError's code ("NoSuchEntity"...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def policy_entities(pages: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """ListEntitiesForPolicy's answer pages as sorted references: "group/G", "user/U",
    "role/R"."""
    return tuple(sorted(f"{kind}/{item[name]}" for page in pages
                        for kind, key, name in POLICY_ENTITY_LISTS
                        for item in page.get(key, [])))
