"""Every reason code of the node, defined once.

A reason code is the stable, machine-readable word that says why something happened: why a
peer's list was refused or could not be fetched (docs/protocol.md sections 9.2 and 9.3), why a
verifier's answer is what it is (section 11.2), why a request was answered with a Problem
Details document (sections 8.3, 11.6 and 12), what a credential check found (section 13.2), or
why the node or a command refused to start or act. Each code is registered here with what it
leads to and a one-line hint that tells an operator what to do about it; the hints of the
federation codes are the remedies of docs/operations.md section 6.

A few codes have more than one use (``schema_invalid`` is both a refused peer list and a
refused request, ``expired`` both a refused peer list and a failed credential check): such a
code is still defined once, with one :class:`Use` per meaning, the most common first. Renaming
a code is a protocol change, so shared codes stay shared.

Raise sites keep writing the code as a string literal; tests/core/test_reasons.py walks the
source and fails for a code that this registry (or docs/protocol.md) lacks, and for a code
registered here that nothing uses. To add a code: add a :func:`_reason` line below, use the
code at its raise site, and document it in docs/protocol.md (for a federation code also in the
table of docs/operations.md section 6, whose "what to do" column is the hint).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Family = Literal[
    "fetch",  # fetching a peer's list failed before its content could be judged
    "list",  # a peer's list was received and refused
    "peer_state",  # why a held peer list is not used
    "sync",  # a sync that ended in an unexpected error
    "answer",  # the reason of a verifier's answer (and of the trust checks of a credential)
    "request",  # a public request refused with Problem Details
    "admin",  # an administrator's request refused with Problem Details
    "config",  # a configuration or installation mistake
    "rotation",  # a key rotation command refused
    "credential",  # a credential check, or a credential that cannot be read as one
    "did_web",  # a did:web issuer's DID document could not be used
    "receipt",  # a signed receipt that registry-node receipt verify refuses
    "generic",  # the code of an error family when no more specific code is given
]

#: What a code leads to: a sync outcome (``failed``, ``rejected``), ``withdrawn`` for a held
#: list, an answer outcome (``trusted``, ``not_trusted``, ``unknown``; ``set_aside`` for a
#: stale source), a credential check (``check_passed``, ``check_failed``), ``not_resolved``
#: for a DID document, ``start_refused`` or ``command_refused`` for the command line, or the
#: HTTP status of the Problem Details document.
LeadsTo = (
    Literal[
        "failed",
        "rejected",
        "withdrawn",
        "trusted",
        "not_trusted",
        "unknown",
        "set_aside",
        "check_passed",
        "check_failed",
        "check_indeterminate",
        "not_resolved",
        "start_refused",
        "command_refused",
    ]
    | int
)

FAILED: LeadsTo = "failed"
#: A database whose key files are gone cannot sign: a new key would be a new identity.
_KEY_MISSING_FIX = (
    "Restore the data folder's keys/ from the backup taken with the database "
    "(docs/operations.md section 10)."
)
REJECTED: LeadsTo = "rejected"


@dataclass(frozen=True, slots=True)
class Use:
    """One meaning of a code: its family, what it leads to, and what an operator should do."""

    family: Family
    leads_to: LeadsTo
    hint: str


@dataclass(frozen=True, slots=True)
class Reason:
    """A registered reason code and its uses (the main one first)."""

    code: str
    uses: tuple[Use, ...]

    @property
    def family(self) -> Family:
        return self.uses[0].family

    @property
    def leads_to(self) -> LeadsTo:
        return self.uses[0].leads_to

    @property
    def hint(self) -> str:
        return self.uses[0].hint

    def use(self, *, family: str | None = None, leads_to: str | int | None = None) -> Use:
        """The first use that matches ``family`` and ``leads_to`` (each when given), else the
        main use."""
        for use in self.uses:
            if (family is None or use.family == family) and (
                leads_to is None or use.leads_to == leads_to
            ):
                return use
        return self.uses[0]


def _reason(code: str, family: Family, leads_to: LeadsTo, hint: str, *also: Use) -> Reason:
    return Reason(code, (Use(family, leads_to, hint), *also))


_TELL_PEER = "Tell the peer."
_CURL = (
    "Try curl -v <url> from the node's host. Check egress firewalls. For very large lists on "
    "slow links, raise federation.deadline."
)
_TOO_LARGE = (
    "If the peer's list really is that big, raise federation.max_list_bytes. Otherwise the "
    "server is misbehaving."
)
_UNKNOWN_KEY = (
    "Get the peer's current thumbprint out of band, correct keys in peers.yaml (re-pinning), "
    "and reload. Never re-pin only because the peer's /.well-known says so."
)
_SCHEMA_LIST = "Tell the peer, with the detail. The publisher may speak an incompatible version."
_SCHEMA_REQUEST = (
    "Correct the document where field and errors (or the detail) say, and send it again."
)
_RECEIPT_KEY = (
    "Check the receipt against the keys of the node that signed it (its iss); a key retired "
    "longer ago than that node's receipt_retention is no longer published."
)
_PROOF = "Ask the issuer to re-issue the credential with a conforming proof."
_KEY = "Ask the issuer which key signs its credentials, and its state to pin that key."
_ISSUE = "Ask the issuer to correct the credential and issue it again."
_PEERS_FIX = (
    "Correct the field the detail names in peers.yaml; check it with registry-node peers check."
)

_ALL = (
    # -- fetching a peer's list (docs/protocol.md 9.2, docs/operations.md section 6) ------
    _reason("timeout", "fetch", FAILED, _CURL),
    _reason(
        "connection_failed",
        "fetch",
        FAILED,
        "Try curl -v <url> from the node's host. For TLS errors, the peer's certificate must "
        "be valid for the URL's host and chain to a CA that this host trusts.",
    ),
    _reason(
        "http_status",
        "fetch",
        FAILED,
        "Check the url in peers.yaml; otherwise tell the peer's operator.",
    ),
    _reason("too_large", "fetch", FAILED, _TOO_LARGE, Use("list", REJECTED, _TOO_LARGE)),
    _reason(
        "redirect_refused",
        "fetch",
        FAILED,
        "Ask the peer for the final URL and put it in peers.yaml.",
    ),
    _reason("too_many_redirects", "fetch", FAILED, "Use the final URL."),
    _reason("unexpected_not_modified", "fetch", FAILED, "Tell the peer's operator."),
    _reason(
        "judge_crashed",
        "fetch",
        FAILED,
        "Check memory limits: up to federation.concurrency lists of up to max_list_bytes are "
        "held at once.",
    ),
    _reason(
        "held_list_changed",
        "fetch",
        FAILED,
        "None: the next sync starts afresh.",
    ),
    # -- refused peer lists (docs/protocol.md 9.3, docs/operations.md section 6) ----------
    _reason(
        "not_json",
        "list",
        REJECTED,
        "Fetch the URL with curl and correct it; it must be the peer's /trust-list.",
    ),
    _reason("jws_malformed", "list", REJECTED, "Correct the URL; otherwise tell the peer."),
    _reason("payload_not_json", "list", REJECTED, "The publisher has a bug: tell the peer."),
    _reason(
        "schema_invalid",
        "request",
        422,
        _SCHEMA_REQUEST,
        # the query and TRQP endpoints answer 400 (docs/protocol.md 11.4, 12)
        Use("request", 400, _SCHEMA_REQUEST),
        Use("list", REJECTED, _SCHEMA_LIST),
    ),
    _reason("key_invalid", "list", REJECTED, _TELL_PEER),
    _reason(
        "unknown_key",
        "list",
        REJECTED,
        _UNKNOWN_KEY,
        Use("credential", "check_failed", _KEY),
        Use("receipt", "check_failed", _RECEIPT_KEY),
    ),
    _reason(
        "signature_invalid",
        "list",
        REJECTED,
        "Treat it as a security event. Compare the body's digest with the peer's operator.",
        Use("receipt", "check_failed", "The receipt was altered, or not signed by that key."),
    ),
    _reason(
        "receipt_malformed",
        "receipt",
        "check_failed",
        "Pass the token exactly as the node sent it (Accept: application/jwt).",
    ),
    _reason(
        "key_retired",
        "receipt",
        "check_failed",
        "The receipt claims a time after its key was retired: do not rely on it.",
    ),
    _reason(
        "alg_not_allowed",
        "list",
        REJECTED,
        "Tell the peer. If the publisher is this software, suspect tampering.",
    ),
    _reason("typ_mismatch", "list", REJECTED, "Check the URL; tell the peer."),
    _reason("header_unexpected", "list", REJECTED, "Tell the peer (non-conforming publisher)."),
    _reason("alg_key_mismatch", "list", REJECTED, _TELL_PEER),
    _reason(
        "threshold_not_met",
        "list",
        REJECTED,
        "This software signs with one key, except on the one version that completes a "
        "rotation. A threshold above 1 suits only publishers that sign with several keys: "
        "lower it.",
    ),
    _reason(
        "wrong_issuer",
        "list",
        REJECTED,
        "Correct id (or a url that points at another registry) in peers.yaml.",
    ),
    _reason("wrong_jurisdiction", "list", REJECTED, "Correct jurisdiction in peers.yaml."),
    _reason(
        "rollback",
        "list",
        REJECTED,
        "Tell the peer. Their restore procedure (docs/operations.md section 10.2) takes back "
        "the newest list you hold of them (GET /v1/peers/list); the seq you hold is in your "
        "/v1/peers.",
    ),
    _reason(
        "equivocation",
        "list",
        REJECTED,
        "Treat it as a security incident: a key compromise or a badly restored peer. Call the "
        "peer's operator by phone. Do not re-pin until you know the cause; if their key was "
        "stolen, follow docs/operations.md section 11. Your node keeps the last good list and "
        "records the event.",
    ),
    _reason(
        "chain_broken",
        "list",
        REJECTED,
        "Tell the peer. Typically a restore that republished the same numbers.",
    ),
    _reason(
        "iat_in_future",
        "list",
        REJECTED,
        "Check this host's clock (date -u, NTP), then ask the peer to check theirs.",
    ),
    _reason(
        "expired",
        "list",
        REJECTED,
        "Tell the peer's operator; check your clock.",
        Use(
            "credential",
            "check_failed",
            "The credential's validity has ended: ask the holder for a current one.",
        ),
    ),
    _reason(
        "duplicate_issuer_id",
        "admin",
        422,
        "Give each entry of the document its own id and aka names.",
        Use("list", REJECTED, "The publisher's data has an error: tell the peer."),
    ),
    _reason(
        "history_unordered",
        "admin",
        422,
        "Order status_history by from, oldest first.",
        Use("list", REJECTED, _TELL_PEER),
    ),
    _reason(
        "validity_too_long",
        "list",
        REJECTED,
        "Tell the peer: their list_validity must fit. Suspect a stolen key if the peer has not "
        "changed it (docs/operations.md section 11). Raise max_validity only after the peer's "
        "operator confirms the setting by phone.",
    ),
    _reason(
        "history_rewritten",
        "list",
        REJECTED,
        "Treat it as a security incident, like equivocation: call the peer's operator by phone "
        "and follow docs/operations.md section 11 if their key was stolen. Your node keeps the "
        "last good list.",
    ),
    _reason(
        "judge_failed",
        "list",
        REJECTED,
        "Keep the log lines and the body (curl -s <url>), and report them to the maintainers "
        "of your node software. Tell the peer.",
    ),
    # -- held peer lists and syncs (docs/protocol.md 9.1, 9.2) ----------------------------
    _reason(
        "terms_changed",
        "peer_state",
        "withdrawn",
        "Nothing: the held list is judged again under the new terms at the next sync; run "
        "registry-node peers sync to do it now.",
    ),
    _reason(
        "internal_error",
        "request",
        500,
        "Look in the node's log for the error at that time and report it to the maintainers "
        "of your node software.",
        Use(
            "sync",
            FAILED,
            "Look in the node's log for peer sync crashed; the sync is rescheduled.",
        ),
    ),
    # -- answers (docs/protocol.md 11.2) --------------------------------------------------
    _reason("active", "answer", "trusted", "Nothing: a usable list vouches for the issuer."),
    _reason(
        "revoked",
        "answer",
        "not_trusted",
        "Do not accept the credential; evidence names the state that revoked the issuer.",
    ),
    _reason(
        "suspended",
        "answer",
        "not_trusted",
        "Do not accept the credential while the suspension lasts; evidence names the state.",
    ),
    _reason(
        "retired",
        "answer",
        "not_trusted",
        "Ask about the instant the credential was issued (at): a retired issuer was trusted "
        "until then.",
    ),
    _reason(
        "outside_validity",
        "answer",
        "not_trusted",
        "Ask about an instant within the entry's valid_from and valid_until.",
    ),
    _reason(
        "not_yet_listed",
        "answer",
        "not_trusted",
        "Check at: the issuer was listed only later.",
    ),
    _reason(
        "not_authorized",
        "answer",
        "not_trusted",
        "The issuer is listed, but not for this type: check the type asked.",
    ),
    _reason(
        "not_listed",
        "answer",
        "unknown",
        "No list this node trusts names the issuer: check the id, or ask its state to list it.",
    ),
    _reason(
        "sources_stale",
        "answer",
        "unknown",
        "Only expired lists name the issuer: look at /v1/peers for the peers that are stale.",
    ),
    _reason(
        "stale",
        "answer",
        "set_aside",
        "The source's list has expired: look at its peer in /v1/peers.",
    ),
    # -- requests (docs/protocol.md 8.3, 11.6, 12) ----------------------------------------
    _reason(
        "malformed_body",
        "request",
        400,
        "Send a body that is strict JSON (docs/protocol.md section 2.4) of the expected shape.",
    ),
    _reason(
        "yaml_invalid",
        "request",
        400,
        "Send valid YAML without repeated keys, anchors or aliases, or send JSON.",
    ),
    _reason("bad_query", "request", 400, "Correct the parameter named in field."),
    _reason("unknown_parameter", "request", 400, "Remove the parameter named in field."),
    _reason(
        "bad_issuer_id",
        "request",
        400,
        "Send an issuer id of 1 to 2,048 characters.",
    ),
    _reason(
        "batch_too_large",
        "request",
        400,
        "Split the questions into batches of at most 1,000.",
    ),
    _reason("bad_request", "request", 400, "Correct the request as the detail says."),
    _reason(
        "unauthorized",
        "request",
        401,
        "Send a valid admin token: Authorization: Bearer <token> (registry-node token create).",
    ),
    _reason("forbidden", "request", 403, "The request is not allowed on this path."),
    _reason(
        "issuer_not_found",
        "request",
        404,
        "Check the issuer id; GET /admin/v1/issuers lists them.",
    ),
    _reason(
        "version_not_found",
        "request",
        404,
        "Ask for a seq that has been published; GET /trust-list serves the newest.",
    ),
    _reason(
        "peer_list_not_held",
        "request",
        404,
        "Ask with the id of a configured peer whose list this node has accepted (GET /v1/peers).",
    ),
    _reason(
        "version_gone",
        "request",
        410,
        "The version was published but its body is no longer kept (retention); "
        "GET /trust-list serves the newest, which holds every issuer's whole history.",
    ),
    _reason(
        "schema_not_found",
        "request",
        404,
        "Check the schema name; docs/protocol.md section 7 lists them.",
    ),
    _reason(
        "peer_not_found",
        "request",
        404,
        "Use the id of a peer configured in peers.yaml (GET /v1/peers lists them).",
    ),
    _reason(
        "entity_not_found",
        "request",
        404,
        "Check entity_id: no usable list names it (or, for recognition, no such peer).",
    ),
    _reason(
        "authority_not_found",
        "request",
        404,
        "Use this node's id or jurisdiction (or a peer's) as authority_id.",
    ),
    _reason(
        "action_not_found",
        "request",
        404,
        "Use action issue (or recognize for recognition).",
    ),
    _reason(
        "resource_not_found",
        "request",
        404,
        "Check resource: no list names that credential type, achievement type or CTID.",
    ),
    _reason("not_found", "request", 404, "Check the path; GET /openapi.json lists them."),
    _reason(
        "not_implemented",
        "request",
        501,
        "This node does not offer that Ayra TRQP profile extension; GET /trqp/metadata "
        "describes the registry, POST /trqp/authorization and /trqp/recognition answer.",
    ),
    _reason(
        "method_not_allowed",
        "request",
        405,
        "Use a method listed in the Allow header.",
    ),
    _reason(
        "not_acceptable",
        "request",
        406,
        "Accept a media type the endpoint serves (docs/protocol.md).",
    ),
    _reason(
        "body_too_large",
        "request",
        413,
        "Send a smaller body, or raise max_body_bytes in node.yaml.",
    ),
    _reason(
        "unsupported_media_type",
        "request",
        415,
        "Send the body with a Content-Type the endpoint accepts.",
    ),
    _reason(
        "not_published",
        "request",
        503,
        "Publish a first list (registry-node publish), or wait for the node to publish.",
    ),
    _reason("http_error", "request", 400, "Correct the request as the detail says."),
    # -- the error families' own codes (core/errors.py) -----------------------------------
    _reason("error", "generic", 400, "Read the detail; the node's log may say more."),
    _reason("invalid_input", "generic", 422, "Correct the input as the detail says."),
    _reason(
        "conflict",
        "generic",
        409,
        "Read the current state, then retry the change against it.",
    ),
    _reason(
        "rejected",
        "generic",
        REJECTED,
        "Read the detail; tell the peer.",
    ),
    _reason(
        "fetch_failed",
        "generic",
        FAILED,
        "Try curl -v <url> from the node's host.",
    ),
    # -- the admin API (docs/protocol.md 8.3) ---------------------------------------------
    _reason(
        "issuer_exists",
        "admin",
        409,
        "Use PUT to change the existing issuer, or choose another id.",
    ),
    _reason(
        "issuer_name_taken",
        "admin",
        409,
        "Choose an id and aka names that no other issuer uses.",
    ),
    _reason(
        "publication_held",
        "admin",
        409,
        "Wait until /readyz no longer reports the issuer source import; the node then "
        "publishes by itself.",
    ),
    _reason(
        "history_immutable",
        "admin",
        422,
        "Change the status with POST /admin/v1/issuers/{id}/status, not with PUT.",
    ),
    _reason(
        "id_immutable",
        "admin",
        422,
        "Send the id of the path in the body; create a new issuer to change an id.",
    ),
    _reason("aka_repeats_id", "admin", 422, "Remove the entry's own id from its aka list."),
    _reason(
        "key_controller_not_issuer",
        "admin",
        422,
        "Pin the key on the entry of the issuer that controls it, or correct its controller "
        "to the issuer's id.",
    ),
    _reason(
        "private_key_refused",
        "admin",
        422,
        "Remove the private key member and pin the public key only; the key was disclosed to "
        "whoever saw the file, so have its holder rotate it.",
    ),
    _reason(
        "validity_inverted",
        "admin",
        422,
        "Set valid_until after valid_from.",
    ),
    _reason(
        "jurisdiction_mismatch",
        "admin",
        422,
        "Import only documents of this node's jurisdiction.",
    ),
    _reason(
        "peers_invalid",
        "config",
        422,
        _PEERS_FIX,
        Use("config", "start_refused", _PEERS_FIX),
    ),
    # -- adding a neighbour (registry-node peers add, docs/protocol.md section 9.1) ----------
    _reason(
        "metadata_invalid",
        "config",
        "command_refused",
        "Check the URL: it must be the neighbour node's public URL, which serves "
        "/.well-known/ler-trust-registry.",
    ),
    _reason(
        "pin_not_offered",
        "config",
        "command_refused",
        "Ask the neighbour's operator for the thumbprint again by a second channel (their "
        "registry-node peers invite); never pin a key only because its metadata offers it.",
    ),
    _reason(
        "peer_exists",
        "config",
        "command_refused",
        "Edit the peer's entry in peers.yaml (keys, url) instead, then reload the node.",
    ),
    _reason(
        "database_unwritable",
        "admin",
        503,
        "Free disk space or make the database's filesystem writable again; /readyz turns ready "
        "once a write succeeds. Nothing was written: send the request again then.",
        Use(
            "admin",
            "command_refused",
            "Free disk space or make the database's filesystem writable again, then run the "
            "command again; nothing was written.",
        ),
    ),
    _reason(
        "token_not_found",
        "admin",
        "command_refused",
        "Check the token number: registry-node token list shows the active tokens.",
    ),
    # -- configuration and installation ---------------------------------------------------
    _reason(
        "config_invalid",
        "config",
        "start_refused",
        "Correct node.yaml where the detail says, then start the node again.",
        Use("config", 500, "Correct node.yaml where the detail says, then restart the node."),
    ),
    _reason(
        "context_refused",
        "config",
        "start_refused",
        "Correct the entry under credentials.contexts where the detail says; "
        "registry-node contexts add URL FILE prints a correct one.",
        Use(
            "config",
            "command_refused",
            "Give a JSON-LD context document (an object with @context) for an http(s) URL that "
            "the node does not ship with other content.",
        ),
    ),
    _reason(
        "did_document_refused",
        "config",
        "start_refused",
        "Correct the DID document file, or the DID it is given for, where the detail says "
        "(its id must be the DID; assertionMethod must name a usable key of that DID).",
    ),
    _reason(
        "config_unreadable",
        "config",
        "start_refused",
        "Check the configuration file's path and that the node's user can read it.",
    ),
    _reason(
        "data_dir_unusable",
        "config",
        "start_refused",
        "Point data_dir at a folder the node's user can create and write.",
    ),
    _reason(
        "database_too_new",
        "config",
        "start_refused",
        "Run the registry-node release that wrote this database, or a newer one.",
    ),
    _reason(
        "config_missing",
        "config",
        "command_refused",
        "Run the command in the folder that holds node.yaml, pass -c PATH before the command, "
        "or write a configuration with registry-node init.",
    ),
    _reason(
        "data_dir_locked",
        "config",
        "start_refused",
        "Stop the other node first: one serve per data folder (admin commands need no stop, "
        "they work alongside it).",
    ),
    _reason(
        "database_lost",
        "config",
        "start_refused",
        "Restore the database from the backup taken with these keys (docs/operations.md "
        "section 10); to begin again as a new registry instead, move the data folder aside.",
    ),
    _reason(
        "identity_mismatch",
        "config",
        "start_refused",
        "Point data_dir at this node's own data folder, or correct node_id in node.yaml.",
    ),
    _reason(
        "database_unusable",
        "config",
        "start_refused",
        "Free space or make the data folder writable if the detail says so; otherwise restore "
        "the database from backup (docs/operations.md section 10).",
    ),
    _reason(
        "database_unreachable",
        "config",
        "start_refused",
        "Check the host and port in node.yaml's database URL, and that the PostgreSQL server "
        "runs and accepts connections from this machine.",
    ),
    _reason(
        "database_login_refused",
        "config",
        "start_refused",
        "Check the user in node.yaml's database URL and its password (database_password_file "
        "or PGPASSWORD), and that pg_hba.conf lets it connect.",
    ),
    _reason(
        "sqlite_only",
        "config",
        "command_refused",
        "Back up and restore a PostgreSQL database with pg_dump and pg_restore, and the data "
        "folder's keys/ with it (docs/operations.md, Running on PostgreSQL).",
    ),
    _reason(
        "database_missing",
        "config",
        "command_refused",
        "Run the command with the configuration of a node that has started (-c PATH); a "
        "command that only reads never creates a database.",
    ),
    _reason(
        "database_needs_upgrade",
        "config",
        "command_refused",
        "Start the node (serve) once with this release to upgrade its database, then run the "
        "command again.",
    ),
    _reason(
        "verify_needs_lists",
        "credential",
        "command_refused",
        "Name what to check against: --node URL (a running node), --bundle DIR (saved lists), "
        "or run where a node's node.yaml is (-c PATH).",
    ),
    _reason(
        "listen_failed",
        "config",
        "start_refused",
        "Stop what uses the port, or set listen.port in node.yaml (or --port).",
    ),
    _reason(
        "demo_not_federated",
        "config",
        "start_refused",
        "Delete the demo folder and run the demo again, so that all its nodes start afresh.",
    ),
    _reason(
        "key_missing",
        "config",
        500,
        _KEY_MISSING_FIX,
        Use("config", "start_refused", _KEY_MISSING_FIX),
    ),
    _reason(
        "key_permissions",
        "config",
        500,
        "Make the key file readable by the node's user only (chmod 600).",
        Use(
            "config",
            "start_refused",
            "Make the key file readable by the node's user only (chmod 600).",
        ),
    ),
    _reason(
        "key_mismatch",
        "config",
        500,
        "Restore the key file that matches the database's key from backup.",
        Use(
            "config",
            "start_refused",
            "Restore the key file that matches the database's key from backup.",
        ),
    ),
    # -- backups and restore (docs/operations.md section 10) ------------------------------
    _reason(
        "restore_unconfirmed",
        "admin",
        409,
        "Wait until the peers confirm the newest version they hold (GET /readyz says which did "
        "not answer), or decide with registry-node restore --confirm.",
        Use(
            "config",
            "command_refused",
            "Wait until the peers confirm the restore, or run registry-node restore --confirm.",
        ),
        Use(
            "request",
            503,
            "The node was restored from a backup; it serves its list again once its peers "
            "confirm the newest version (or its operator decides).",
        ),
    ),
    _reason(
        "backup_invalid",
        "config",
        "command_refused",
        "Restore from a complete backup made by registry-node backup; its backup.json "
        "names every file and its digest.",
    ),
    # -- key rotation (docs/operations.md section 3) --------------------------------------
    _reason(
        "rotation_in_progress",
        "rotation",
        "command_refused",
        "Complete it with registry-node keys rotate --complete.",
    ),
    _reason(
        "rotation_too_early",
        "rotation",
        "command_refused",
        "Wait until the time the detail names: peers must see the announced key for one list "
        "validity period first.",
    ),
    _reason(
        "no_rotation",
        "rotation",
        "command_refused",
        "Start one with registry-node keys rotate.",
    ),
    # -- credentials that cannot be read as one (docs/protocol.md 13.3) -------------------
    _reason("credential_missing", "credential", 400, "Send the credential as the request body."),
    _reason(
        "credential_not_object",
        "credential",
        400,
        "Send a credential as a JSON object or a compact JWS.",
    ),
    _reason("credential_bad_jws", "credential", 400, "Send a well-formed compact JWS."),
    _reason(
        "credential_no_vc",
        "credential",
        400,
        "Send a JWT that carries the credential (as its payload or its vc claim).",
    ),
    _reason("credential_no_context", "credential", 400, _ISSUE),
    _reason("credential_no_type", "credential", 400, _ISSUE),
    _reason("credential_no_issuer", "credential", 400, _ISSUE),
    _reason("credential_bad_subject", "credential", 400, _ISSUE),
    _reason(
        "credential_no_proof",
        "credential",
        400,
        "Send the signed credential: this one has no proof.",
    ),
    _reason("credential_bad_proof", "credential", 400, _ISSUE),
    _reason(
        "credential_too_deep",
        "credential",
        400,
        "The credential nests too deeply to be checked: ask the issuer for a flatter one.",
    ),
    _reason("credential_bad_date", "credential", 400, _ISSUE),
    # -- credential checks (docs/protocol.md 13.2) ----------------------------------------
    _reason("data_integrity", "credential", "check_passed", "Nothing: the format is right."),
    _reason("vc_jose", "credential", "check_passed", "Nothing: the format is right."),
    _reason("vc_jwt", "credential", "check_passed", "Nothing: the format is right."),
    _reason("not_a_credential", "credential", "check_failed", _ISSUE),
    _reason("no_credential_subject", "credential", "check_failed", _ISSUE),
    _reason(
        "unsupported_typ",
        "credential",
        "check_failed",
        "Send a JWS of typ vc+jwt or JWT.",
    ),
    _reason("iss_mismatch", "credential", "check_failed", _ISSUE),
    _reason(
        "forbidden_claim",
        "credential",
        "check_failed",
        _ISSUE,
    ),
    _reason(
        "contexts_pinned",
        "credential",
        "check_passed",
        "Nothing: every context is a shipped copy.",
    ),
    _reason(
        "context_not_pinned",
        "credential",
        "check_failed",
        "The node never fetches contexts: ask the issuer to use published contexts only.",
    ),
    _reason(
        "base_context",
        "credential",
        "check_failed",
        "The first @context must be the W3C credentials context: ask the issuer to fix it.",
    ),
    _reason("jsonld_error", "credential", "check_failed", _ISSUE),
    _reason("not_canonicalizable", "credential", "check_failed", _ISSUE),
    _reason(
        "all_terms_defined",
        "credential",
        "check_passed",
        "Nothing: every term is defined.",
    ),
    _reason(
        "undefined_terms",
        "credential",
        "check_failed",
        "Ask the issuer to define every term it uses in a context.",
    ),
    _reason(
        "duplicate_claims",
        "credential",
        "check_failed",
        "Ask the issuer to state each member once, under its term.",
    ),
    _reason(
        "signature_valid",
        "credential",
        "check_passed",
        "Nothing: the signature verifies.",
    ),
    _reason(
        "bad_signature",
        "credential",
        "check_failed",
        "The credential was altered or signed with another key: do not accept it.",
    ),
    _reason("header_jwk_not_pinned", "credential", "check_failed", _KEY),
    _reason("key_type_mismatch", "credential", "check_failed", _PROOF),
    _reason(
        "unsupported_cryptosuite",
        "credential",
        "check_failed",
        "Ask the issuer for eddsa-rdfc-2022, eddsa-jcs-2022 or Ed25519Signature2020 proofs.",
    ),
    _reason(
        "unsupported_alg",
        "credential",
        "check_failed",
        "Ask the issuer to sign with EdDSA, ES256 or RS256.",
    ),
    _reason("proof_undefined_terms", "credential", "check_failed", _PROOF),
    _reason(
        "wrong_proof_purpose",
        "credential",
        "check_failed",
        "The proof's purpose must be assertionMethod: ask the issuer to re-issue it.",
    ),
    _reason("proof_context_mismatch", "credential", "check_failed", _PROOF),
    _reason("bad_proof", "credential", "check_failed", _PROOF),
    _reason("bad_proof_value", "credential", "check_failed", _PROOF),
    _reason(
        "proof_expired",
        "credential",
        "check_failed",
        "The proof has expired: ask the holder for a freshly signed credential.",
    ),
    _reason("bad_key", "credential", "check_failed", _KEY),
    _reason(
        "unsupported_key_type",
        "credential",
        "check_failed",
        "Ask the issuer to sign with an Ed25519, P-256 or RSA key.",
    ),
    _reason(
        "weak_key",
        "credential",
        "check_failed",
        "Ask the issuer to sign with an RSA key of at least 2048 bits, or Ed25519 or P-256.",
    ),
    _reason(
        "controller_is_issuer",
        "credential",
        "check_passed",
        "Nothing: the key is the issuer's own.",
    ),
    _reason(
        "key_pinned",
        "credential",
        "check_passed",
        "Nothing: a usable list pins the key for the issuer.",
    ),
    _reason("issuer_binding", "credential", "check_failed", _KEY),
    _reason(
        "not_checked",
        "credential",
        "check_failed",
        "See the signature check: no key verified the proof.",
    ),
    _reason(
        "in_validity_period",
        "credential",
        "check_passed",
        "Nothing: the credential is within its validity period.",
    ),
    _reason(
        "not_yet_valid",
        "credential",
        "check_failed",
        "The credential is not valid yet: check again from its validFrom, and this host's clock.",
    ),
    _reason("no_issuer", "credential", "check_failed", _ISSUE),
    _reason(
        "no_verified_key",
        "credential",
        "check_failed",
        "See the signature and issuer_binding checks: no key of the issuer verified the proof.",
    ),
    # -- credential status (docs/protocol.md 13.2) ---------------------------------------
    _reason(
        "no_status",
        "credential",
        "check_passed",
        "Nothing: the credential names no status list.",
    ),
    _reason(
        "status_clear",
        "credential",
        "check_passed",
        "Nothing: no status list entry of the credential is set.",
    ),
    _reason(
        "status_reported",
        "credential",
        "check_passed",
        "Nothing to do: a status other than revocation or suspension is reported in the detail.",
    ),
    _reason(
        "status_revoked",
        "credential",
        "check_failed",
        "The issuer has revoked the credential: do not accept it.",
    ),
    _reason(
        "status_suspended",
        "credential",
        "check_failed",
        "The issuer has suspended the credential: do not accept it now; it may be reinstated.",
    ),
    _reason(
        "status_entry_malformed",
        "credential",
        "check_failed",
        "The credential's credentialStatus is malformed: ask the issuer to re-issue it.",
    ),
    _reason(
        "status_unsupported",
        "credential",
        "check_indeterminate",
        "The node reads BitstringStatusListEntry, StatusList2021Entry and "
        "1EdTechRevocationList entries only.",
    ),
    _reason(
        "status_not_checked",
        "credential",
        "check_indeterminate",
        "Status lists are not consulted on this path: verify through a node or a bundle.",
    ),
    _reason(
        "status_list_unavailable",
        "credential",
        "check_indeterminate",
        "Add the list to the bundle's status/ folder, or turn on credentials.fetch_status_lists "
        "and check that the list's server answers.",
    ),
    _reason(
        "status_origin_not_allowed",
        "credential",
        "check_indeterminate",
        "The issuer's entry does not allow the list's https origin: add it to the entry's "
        "status_origins if the issuer really publishes its lists there.",
    ),
    _reason(
        "status_list_invalid",
        "credential",
        "check_indeterminate",
        "The status list's proof does not verify with a key of the issuer: do not trust it; "
        "tell the issuer.",
    ),
    _reason(
        "status_list_issuer_mismatch",
        "credential",
        "check_indeterminate",
        "The status list is not the credential issuer's own: tell the issuer.",
    ),
    _reason(
        "status_list_expired",
        "credential",
        "check_indeterminate",
        "The status list is outside its validity period: get a current copy.",
    ),
    _reason(
        "status_list_stale",
        "credential",
        "check_indeterminate",
        "The copy of the status list is older than the freshness bound "
        "(credentials.status_list_max_age or its ttl): get a fresh copy.",
    ),
    _reason(
        "status_list_malformed",
        "credential",
        "check_indeterminate",
        "The status list cannot be read (type, encodedList, size): tell the issuer.",
    ),
    _reason(
        "status_list_unsigned",
        "credential",
        "check_indeterminate",
        "An unsigned revocation list is believed only when fetched from an origin the "
        "issuer's entry allows.",
    ),
    _reason(
        "status_purpose_mismatch",
        "credential",
        "check_indeterminate",
        "The status list is for another statusPurpose than the entry: tell the issuer.",
    ),
    _reason(
        "status_index_out_of_range",
        "credential",
        "check_indeterminate",
        "The entry's statusListIndex is beyond the list: tell the issuer.",
    ),
    # -- did:web documents (docs/protocol.md 13.2) ----------------------------------------
    _reason(
        "did_invalid",
        "did_web",
        "not_resolved",
        "The issuer's did:web id is not a valid did:web: ask the issuer to correct it.",
    ),
    _reason(
        "did_document_malformed",
        "did_web",
        "not_resolved",
        "Ask the issuer to serve its DID document as JSON; or ask its state to pin its keys.",
    ),
    _reason(
        "did_document_mismatch",
        "did_web",
        "not_resolved",
        "The DID document's id is not the issuer's DID: ask the issuer to correct it.",
    ),
    _reason(
        "did_document_private_key",
        "did_web",
        "not_resolved",
        "The issuer's DID document publishes private key material: tell the issuer at once "
        "(that key is disclosed); ask its state to pin a new public key.",
    ),
)

REASONS: Mapping[str, Reason] = MappingProxyType({r.code: r for r in _ALL})
if len(REASONS) != len(_ALL):  # pragma: no cover - caught by the tests at once
    raise RuntimeError("a reason code is registered twice")


def get(code: str) -> Reason:
    """The registered reason ``code``. Raises KeyError for an unknown code."""
    try:
        return REASONS[code]
    except KeyError:
        raise KeyError(f"unknown reason code {code!r}") from None


def known(code: str) -> bool:
    return code in REASONS


def hint(code: str, *, family: str | None = None, leads_to: str | int | None = None) -> str:
    """What an operator should do about ``code``, for the use that matches ``family`` and
    ``leads_to`` (see :meth:`Reason.use`). Empty for a code this node does not know (one
    reported by another node, say)."""
    reason = REASONS.get(code)
    return "" if reason is None else reason.use(family=family, leads_to=leads_to).hint


def codes(family: Family | None = None) -> Iterator[str]:
    """Every registered code (with a use in ``family``, when given), in registry order."""
    for reason in _ALL:
        if family is None or any(u.family == family for u in reason.uses):
            yield reason.code


__all__ = [
    "FAILED",
    "REASONS",
    "REJECTED",
    "Family",
    "LeadsTo",
    "Reason",
    "Use",
    "codes",
    "get",
    "hint",
    "known",
]
