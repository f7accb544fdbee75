"""API keys of the HTTP API: one file of hashes, one tenant per key.

A key reads as ``rsq_<key id>_<secret>``: the key id (12 hex digits) finds the key's entry, the
secret proves it. The file stores the id, the tenant, the sha256 of the secret, when it was
created and, once revoked, when — never a secret. :func:`create` returns the key once; nobody
can print it again. The server compares the sha256 of a presented secret with the stored one
in constant time (:func:`hmac.compare_digest`) and re-reads the file when it changes, so a key
created or revoked while it runs counts from its next request.

The file is JSON, replaced atomically (a temporary file renamed over it) under an exclusive
lock on ``<file>.lock``, so two ``recsql keys`` commands never lose each other's change and a
server never reads half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

#: What every key starts with: a key found in a log or a repository is recognisable.
PREFIX = "rsq"
_FORMAT = 1


class KeysError(ValueError):
    """The keys file cannot be read or the request makes no sense (an unknown key id...)."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One key as the file holds it: no secret, only its sha256."""

    key_id: str
    tenant_id: str
    secret_sha256: str
    created_at: str
    revoked_at: str | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read(path: Path) -> list[KeyEntry]:
    """The keys in the file (none if it does not exist)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise KeysError(f"{path} is not a recsql keys file: {error}") from error
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise KeysError(f"{path} is not a recsql keys file (format {_FORMAT})")
    try:
        return [KeyEntry(**entry) for entry in document["keys"]]
    except (KeyError, TypeError) as error:
        raise KeysError(f"{path} is not a recsql keys file: {error}") from error


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, entries: list[KeyEntry]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps({"format": _FORMAT, "keys": [asdict(e) for e in entries]}, indent=2)
    # readable by the owner only: the hashes are no secrets, but nobody else needs them
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def create(path: Path, tenant_id: str) -> str:
    """Add a key for ``tenant_id`` to the file and return it: the only time it is shown."""
    if not tenant_id:
        raise KeysError("a key needs a tenant")
    with _locked(path):
        entries = read(path)
        known = {entry.key_id for entry in entries}
        key_id = secrets.token_hex(6)
        while key_id in known:  # pragma: no cover - 48 random bits
            key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        entries.append(KeyEntry(key_id, tenant_id, _digest(secret), _now()))
        _write(path, entries)
    return f"{PREFIX}_{key_id}_{secret}"


def revoke(path: Path, tenant_id: str, key: str | None = None) -> list[KeyEntry]:
    """Revoke one key of ``tenant_id`` (``key``: the key itself or its id), or every key of the
    tenant when ``key`` is None; return the keys revoked."""
    with _locked(path):
        entries = read(path)
        key_id = _key_id(key) if key is not None else None
        revoked, kept = [], []
        for entry in entries:
            if (
                entry.tenant_id == tenant_id
                and entry.revoked_at is None
                and key_id in (None, entry.key_id)
            ):
                entry = KeyEntry(**{**asdict(entry), "revoked_at": _now()})
                revoked.append(entry)
            kept.append(entry)
        if not revoked:
            which = f"key {key_id}" if key_id else "key"
            raise KeysError(f"tenant {tenant_id!r} has no active {which} in {path}")
        _write(path, kept)
    return revoked


def _key_id(key: str) -> str:
    """The id of a key, given the key or the id alone."""
    prefix, _, rest = key.partition("_")
    return rest.partition("_")[0] if prefix == PREFIX else key


class KeyStore:
    """The keys file as a running server sees it: re-read whenever it changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._entries: dict[str, KeyEntry] = {}
        self._refresh()

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.path)
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen == self._seen:
            return
        entries = read(self.path)
        self._entries = {e.key_id: e for e in entries if e.revoked_at is None}
        self._seen = seen

    def tenant_of(self, key: str) -> str | None:
        """The tenant an active key belongs to, or None for a key that is not one."""
        with contextlib.suppress(KeysError):  # a broken file (edited by hand): keep the last
            self._refresh()
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        entry = self._entries.get(key_id) if prefix == PREFIX else None
        # the comparison costs the same whether the id exists or not
        expected = entry.secret_sha256 if entry is not None else _digest(key_id + "\x00")
        matches = hmac.compare_digest(_digest(secret), expected)
        return entry.tenant_id if entry is not None and matches else None


__all__ = ["PREFIX", "KeyEntry", "KeyStore", "KeysError", "create", "read", "revoke"]
