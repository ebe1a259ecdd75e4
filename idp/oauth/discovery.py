"""The discovery document (OIDC Discovery §3, RFC 8414): only what works is advertised."""

from __future__ import annotations

from typing import Any

from idp.oauth.claims import supported_claims
from idp.oauth.client_auth import AUTH_METHODS
from idp.oauth.client_metadata import ID_TOKEN_ALGS, SCOPES
from idp.oauth.pkce import PKCE_METHODS

ACR_PASSWORD = "urn:portcullis:acr:password"  # noqa: S105 - an acr value, not a secret
ACR_MFA = "urn:portcullis:acr:mfa"  # a second factor: TOTP, a recovery code, or a trusted upstream's MFA


def acr_for(amr: str) -> str:
    """The acr of a session authenticated with these RFC 8176 methods."""
    return ACR_MFA if {"otp", "mfa"} & set(amr.split()) else ACR_PASSWORD


def openid_configuration(issuer: str) -> dict[str, Any]:
    signing = ["RS256", "ES256"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": f"{issuer}/register",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/end-session",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": signing,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": [m for m in AUTH_METHODS if m != "none"],
        "code_challenge_methods_supported": PKCE_METHODS,
        "claims_supported": supported_claims(),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "ui_locales_supported": ["en"],
    }
