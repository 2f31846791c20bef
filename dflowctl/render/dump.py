"""Manifests as text: readable block YAML (multi-line strings as ``|`` blocks) or JSON."""

from __future__ import annotations

import io
import json
from typing import Any


def _literal(obj: Any) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(obj, dict):
        return {k: _literal(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_literal(v) for v in obj]
    if isinstance(obj, str) and "\n" in obj:
        return LiteralScalarString(obj)
    return obj


def dump_yaml(obj: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    buf = io.StringIO()
    yaml.dump(_literal(obj), buf)
    return buf.getvalue()


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"
