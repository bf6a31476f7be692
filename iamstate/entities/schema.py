"""The published JSON schemas, assembled from the entities' fragments.

account.schema.json and resources.schema.json are the files editors and `validate` read;
each entity owns its part of them (its key's schema and the `$defs` only it uses, in its
package's schema.json). What is not an entity's (account_id, the roles, `lint:`, the
shared `$defs`) stays as written in the files. Run `python -m iamstate.entities.schema` to
write the files again after changing a fragment or adding an entity; a test pins the
committed files to what this writes. At run time the same assembly is applied to the
files as read, so an entity registered since (a plugin, a test's own) is checked too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from iamstate.entities.base import ACCOUNT_SCHEMA, RESOURCES_SCHEMA, Entity
from iamstate.entities.registry import ENTITIES

FILES = (ACCOUNT_SCHEMA, RESOURCES_SCHEMA)
FOLDER = Path(__file__).parents[1] / "repository" / "schema"


def assemble(name: str, schema: Mapping[str, Any],
             entities: Iterable[Entity[Any]] | None = None) -> dict[str, Any]:
    """`schema` (the file `name` as written) with every entity's fragment in place: its
    key under `properties` (where it was, or last), its `$defs` beside the file's; in
    account.yaml's `ignore:`, the key of each entity that takes globs."""
    out = copy.deepcopy(dict(schema))
    properties = out.setdefault("properties", {})
    defs = out.setdefault("$defs", {})
    ignore = properties.get("ignore", {}).get("properties")  # account.yaml's `ignore:`
    for entity in ENTITIES.values() if entities is None else entities:
        if ignore is not None and entity.ignore is not None:
            ignore.setdefault(entity.ignore, {"$ref": "#/$defs/globs"})
        fragment = entity.schema
        if fragment is None or fragment.file != name:
            continue
        properties[entity.key] = copy.deepcopy(dict(fragment.property))
        defs.update(copy.deepcopy(dict(fragment.defs)))
    return out


def written(name: str) -> dict[str, Any]:
    """The committed file, as written (not assembled)."""
    data: dict[str, Any] = json.loads((FOLDER / name).read_text(encoding="utf-8"))
    return data


def write_schemas() -> None:
    """Write both files again from the registered entities' fragments."""
    for name in FILES:
        data = assemble(name, written(name))
        (FOLDER / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")


if __name__ == "__main__":
    write_schemas()
