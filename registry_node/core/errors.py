"""Error families of the node.

Each family means one thing and every error carries a stable reason ``code`` that appears in
logs, metrics, the peers status endpoint and Problem Details bodies, plus a ``hint`` that tells
an operator what to do. Every code is registered in core/reasons.py; an error raised without a
``hint`` takes the registry's hint for its code (for the use that matches the family's
``reason_family``). Programmer errors stay ``RuntimeError``/``ValueError``.
"""

from __future__ import annotations

from typing import ClassVar

from registry_node.core import reasons


class RegistryError(Exception):
    """Base of every domain error. ``code`` is stable; ``detail`` is for humans."""

    default_code = "error"
    #: Which use of a shared code this family means (core/reasons.py); None: the main use.
    reason_family: ClassVar[reasons.Family | None] = None

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.hint = hint if hint is not None else reasons.hint(self.code, family=self.reason_family)
        self.field = field

    def diagnostics(self) -> str:
        """One line for an operator: what happened and what to do."""
        text = f"{self.code}: {self.detail}"
        return f"{text} ({self.hint})" if self.hint else text


class InvalidInput(RegistryError):
    """Input from an administrator (HTTP body, CLI argument, source file) that must be refused."""

    default_code = "invalid_input"


class Malformed(InvalidInput):
    """Input that cannot even be parsed (not JSON, not YAML, wrong shape)."""

    default_code = "malformed_body"


class SchemaInvalid(InvalidInput):
    """A document failed its JSON Schema. ``errors`` lists (path, message) pairs."""

    default_code = "schema_invalid"

    def __init__(
        self,
        detail: str,
        errors: list[tuple[str, str]],
        *,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(detail, code=code, hint=hint, field=errors[0][0] if errors else None)
        self.errors = errors


class RequestSchemaInvalid(SchemaInvalid, Malformed):
    """A request body that its schema refuses where the protocol answers 400, not 422 (the
    query endpoints and the TRQP binding)."""


class NotFound(RegistryError):
    default_code = "not_found"


class Conflict(RegistryError):
    default_code = "conflict"


class ConfigError(RegistryError):
    """A configuration mistake (node.yaml, peers.yaml, key files). Stops the node at start-up."""

    default_code = "config_invalid"
    reason_family = "config"


class StorageUnavailable(RegistryError):
    """The database refused a write for want of a writable database (disk full, read-only,
    I/O error): nothing was written, and the request may succeed once storage is fixed."""

    default_code = "database_unwritable"


class Rejected(RegistryError):
    """A peer's list that must not be accepted (bad signature, rollback, expired, ...)."""

    default_code = "rejected"
    reason_family = "list"


class FetchFailed(RegistryError):
    """Fetching a peer's list failed before its content could be judged."""

    default_code = "fetch_failed"
    reason_family = "fetch"


class FetchTimeout(FetchFailed, TimeoutError):
    """A fetch ran past its deadline. Also a ``TimeoutError`` so generic handlers catch it."""

    default_code = "timeout"
