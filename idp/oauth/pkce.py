"""PKCE (RFC 7636) with S256 only (RFC 9700 §2.1.1)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge

PKCE_METHODS = ["S256"]


class StrictCodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1); a public client must send a challenge."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = PKCE_METHODS

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("code_challenge_method must be S256")
        if grant.request.client.model.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("public clients must use PKCE (code_challenge with S256)")
        super().validate_code_challenge(grant, redirect_uri)
