"""YAML for configuration and issuer source files: safe, strict, and timestamps kept as text.

PyYAML's safe loader turns ``2024-01-01T00:00:00Z`` into a datetime, which would then fail a JSON
Schema that expects an RFC 3339 string; it also silently keeps the last of two duplicate keys.
This loader keeps scalars as written and refuses duplicate keys.
"""

from __future__ import annotations

from typing import Any

import yaml

from registry_node.core.errors import Malformed


class _StrictLoader(yaml.SafeLoader):
    pass


# Drop the implicit timestamp resolver: dates stay strings, as the schemas expect.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str | bytes, source: str) -> Any:
    """Parse one YAML document; a syntax error names ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise Malformed(f"{where}: not valid YAML: {problem}", code="yaml_invalid") from exc


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)
