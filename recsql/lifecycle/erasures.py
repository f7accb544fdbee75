"""How the state remembers an erasure request without the customer's id: a keyed hash.

A build must know which erasure requests it has seen before - to log each request once, when
it is first applied (``erasure_log``), and to retrain a tenant whose stored model was fitted
before a request arrived (trigger ``erasure``). The state database keeps, per request, the
HMAC-SHA256 of the tenant and the customer id under a secret key that is not in the state
file: ``<state>.key`` beside it (created on first use, readable by its owner only). Without
the key, a hash cannot be matched to an id, even by trying every likely id; with the id and
the key, the request is recognised again.

Deleting the key (or losing it) only costs a retraining: the next build sees every request as
new, retrains every tenant that has one, and logs each request again (docs/privacy.md).

The build computes the hashes in SQL with ``recsql_erasure_key(tenant_id, customer_id)``, a
function the dbt plugin defines in the build database (:func:`define_function`); the key never
appears in SQL text, logs or any table.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import duckdb
from duckdb.sqltypes import VARCHAR

log = logging.getLogger(__name__)

#: The SQL function a build computes request keys with (models/base/erasure_removals).
FUNCTION = "recsql_erasure_key"
_KEY_BYTES = 32


def key_path(state_path: Path) -> Path:
    """Where the key of the state ``state_path`` is: ``<name>.state.key`` beside it."""
    return state_path.with_suffix(".key")


def load_key(state_path: Path | None) -> bytes:
    """The key of the state ``state_path``, created (owner-only) if it does not exist yet. A
    build without a state (a plain ``dbt build``) remembers nothing: a random key of its own."""
    if state_path is None:
        return secrets.token_bytes(_KEY_BYTES)
    path = key_path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) < 16:
            raise ValueError(
                f"{path} is not a recsql erasure key (64 hexadecimal digits). Restore it from "
                "where you keep it, or delete it: the next build then retrains every tenant "
                "with an erasure request and logs each request again (docs/privacy.md)."
            ) from None
        _warn_if_shared(path)
        return key
    key = secrets.token_bytes(_KEY_BYTES)
    with os.fdopen(fd, "w") as file:
        file.write(key.hex() + "\n")
    return key


def _warn_if_shared(path: Path) -> None:
    """Warn when others than its owner may read the key at ``path`` (e.g. a copy, or a
    checkout, that did not keep the mode it was made with): with it and a likely id, anyone
    who can read the state can tell whether that customer asked to be forgotten."""
    mode = path.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        log.warning(
            "%s can be read by other users (mode %03o): the erasure key should be readable "
            "by its owner only. Run: chmod 600 %s",
            path,
            mode,
            path,
        )


def request_key(key: bytes, tenant_id: str, customer_id: str) -> str:
    """The hash the state keeps of the request of ``customer_id`` of ``tenant_id``."""
    message = f"{tenant_id}\x1f{customer_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def define_function(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Define :data:`FUNCTION` in ``con``'s database (once per database)."""
    if con.execute(
        "select 1 from duckdb_functions() where function_name = ?", [FUNCTION]
    ).fetchall():
        return
    con.create_function(
        FUNCTION,
        lambda tenant_id, customer_id: request_key(key, tenant_id, customer_id),
        [VARCHAR, VARCHAR],
        VARCHAR,
    )
