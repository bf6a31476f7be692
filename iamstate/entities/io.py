"""Model objects in and out of plain data: plan files (`to_data` / `from_data`), the
field metadata that says what a plan file holds, and documents as AWS answers them.

A plan file carries the model objects of every change, not a rendering of them: each
dataclass converts to plain JSON data and back.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

from iamstate.model.fields import IF_SET, NOT_IN_PLAN
from iamstate.repository.policy import PolicyDocument

__all__ = ["IF_SET", "NOT_IN_PLAN", "Flow", "document_from_aws", "from_data", "to_data"]
T = TypeVar("T")


class Flow(list[Any]):
    """A list that `iamstate import` writes on one line: `groups: [AllUsers, Developers]`."""


def document_from_aws(raw: Any) -> PolicyDocument:
    """A policy document as IAM answers it (GAAD, GetPolicyVersion)."""
    if isinstance(raw, str):  # boto3 decodes these; be safe with a raw URL-encoded string
        raw = json.loads(unquote(raw))
    return PolicyDocument(raw)


def to_data(obj: Any) -> Any:
    """A model object as plain JSON data: what a plan file holds for a change."""
    if isinstance(obj, PolicyDocument):
        return obj.document
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("plan", True) is True
                or (f.metadata.get("plan") == IF_SET["plan"] and getattr(obj, f.name) is not None)}
    if isinstance(obj, frozenset):
        return sorted(to_data(v) for v in obj)
    if isinstance(obj, tuple) and obj and all(isinstance(v, tuple) and len(v) == 2
                                              for v in obj):
        return {str(k): to_data(v) for k, v in obj}
    if isinstance(obj, tuple | list):
        return [to_data(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    return obj


def from_data(cls: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of `to_data` for one of the model dataclasses."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _decode(hints[f.name], data[f.name])
    return cls(**values)


def _decode(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return None if value is None else _decode(inner[0], value)
    if hint is PolicyDocument:
        return PolicyDocument(value)
    if dataclasses.is_dataclass(hint):
        return from_data(hint, value)  # type: ignore[arg-type]
    if origin is frozenset:
        return frozenset(_decode(args[0], v) for v in value)
    if origin is tuple:
        element = args[0]
        if typing.get_origin(element) is tuple and isinstance(value, Mapping):
            _, item_type = typing.get_args(element)
            return tuple((k, _decode(item_type, v)) for k, v in value.items())
        if isinstance(value, Mapping):  # an empty tuple of pairs was written as {}
            return ()
        return tuple(_decode(element, v) for v in value)
    return value
