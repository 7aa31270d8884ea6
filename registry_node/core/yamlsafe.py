"""YAML for configuration and issuer source files: safe, strict, and timestamps kept as text.

PyYAML's safe loader turns ``2024-01-01T00:00:00Z`` into a datetime, which would then fail a JSON
Schema that expects an RFC 3339 string; it also silently keeps the last of two duplicate keys.
This loader keeps scalars as written and refuses duplicate keys.

It also refuses what no configuration or source file needs and an attacker would use: anchors
and aliases (a few hundred bytes of nested aliases, the "billion laughs", expand to gigabytes),
refused as the document is composed, before anything is built or any shape is checked; nesting
deeper than the strict JSON bound; lone surrogates (``"\\ud800"``), ``.inf``/``.nan`` and
integers too long for the interpreter (docs/protocol.md section 2.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import yaml

from registry_node.core import strictjson
from registry_node.core.errors import Malformed
from registry_node.core.strictjson import MAX_DEPTH, StrictJSONError

#: how many composed nodes between two progress reports of :func:`load_yaml`
PROGRESS_EVERY = 2048


class _StrictLoader(yaml.SafeLoader):
    _depth = 0
    _nodes = 0
    #: called with the position reached in the text, every PROGRESS_EVERY nodes
    _progress: Callable[[int], None] | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if self._progress is not None:
            self._nodes += 1
            if self._nodes % PROGRESS_EVERY == 0:
                self._progress(event.start_mark.index)
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH}", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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


def load_yaml(
    text: str | bytes, source: str, progress: Callable[[int, int], None] | None = None
) -> Any:
    """Parse one YAML document; a syntax error names ``source`` and the line. ``progress``
    hears now and then how far the parser got: ``(position, len(text))``."""
    loader = _StrictLoader(text)
    if progress is not None:
        total = len(text)
        loader._progress = lambda position: progress(min(position, total), total)
    try:
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise Malformed(f"{where}: not valid YAML: {problem}", code="yaml_invalid") from exc
    except ValueError as exc:  # an integer longer than the interpreter converts
        raise Malformed(f"{source}: not valid YAML: {exc}", code="yaml_invalid") from exc
    try:
        _check_values(doc)
    except StrictJSONError as exc:
        raise Malformed(f"{source}: not valid YAML: {exc}", code="yaml_invalid") from exc
    if progress is not None:
        progress(len(text), len(text))
    return doc


def _check_values(doc: Any) -> None:
    """No lone surrogate and no infinite or NaN number anywhere (the strict JSON rules)."""
    strictjson.check_surrogates(doc)
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise StrictJSONError(f"the number {node} is not allowed")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)
