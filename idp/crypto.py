"""Small primitives shared by every domain: random tokens, keyed hashes and sealed secrets.

Tokens (session ids, codes, refresh tokens, client secrets) are stored only as an HMAC-SHA256
keyed with a key derived from the master key: fast enough for the token path, useless to
someone holding a copy of the database. Private keys and other secrets the server must read
back are sealed with AES-256-GCM under another derived key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from idp.errors import ServerError


class SealedSecretError(ServerError, ValueError):
    """A sealed secret could not be opened: wrong master key or tampered data."""


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random string with `nbytes` bytes (default 256 bits) of entropy."""
    return secrets.token_urlsafe(nbytes)


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose, so no two uses share key material."""
    return hmac.new(master_key, b"portcullis/" + purpose.encode(), hashlib.sha256).digest()


class Keyring:
    """The keys derived from the master key, built once per application."""

    def __init__(self, master_key: bytes) -> None:
        self._token_key = derive_key(master_key, "token-hash")
        self._csrf_key = derive_key(master_key, "csrf")
        self._aead = AESGCM(derive_key(master_key, "seal"))

    def hash_token(self, token: str) -> str:
        """The stored form of a bearer secret (hex HMAC-SHA256)."""
        return hmac.new(self._token_key, token.encode(), hashlib.sha256).hexdigest()

    def sign(self, message: str) -> str:
        return hmac.new(self._csrf_key, message.encode(), hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes, context: str) -> str:
        """Encrypt `plaintext`; `context` (for example a row id) is bound as associated data."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str, context: str) -> bytes:
        raw = base64.urlsafe_b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except Exception as exc:  # cryptography raises InvalidTag
            raise SealedSecretError("cannot open sealed secret") from exc


def keyring() -> Keyring:
    ring: Keyring = current_app.extensions["idp.keyring"]
    return ring


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
