"""Outputs, one class per format (outputs/base.py's `Output`), registered by name.

A new format is one module here with its class and one line in `FORMATS`: `plan`, `audit`
and `validate` offer every registered name in `--format`. Modules are imported only when
their format is asked for (`validate` runs in a pre-commit hook and stays light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iamstate.outputs.base import Output

FORMATS: dict[str, str] = {  # format name -> "module:Class"
    "text": "iamstate.outputs.text:TextOutput",
    "markdown": "iamstate.outputs.markdown:MarkdownOutput",
    "json": "iamstate.outputs.jsondoc:JsonOutput",
    "sarif": "iamstate.outputs.sarif:SarifOutput",
}


def output_class(name: str) -> type[Output]:
    """The class registered for a format name (KeyError: no such format)."""
    module, _, cls = FORMATS[name].partition(":")
    found: type[Output] = getattr(importlib.import_module(module), cls)
    return found
