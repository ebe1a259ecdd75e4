"""Authlib's view of a stored client (RFC 6749 §2, RFC 7591 metadata) and redirect URI matching:
exact, except loopback ports for native apps (RFC 8252 §7.3)."""

from __future__ import annotations

from urllib.parse import urlsplit

from idp.oauth.client_metadata import SCOPES, is_loopback_host
from idp.oauth.clients import check_client_secret
from idp.oauth.models import Client


class OAuthClient:
    """Authlib's ClientMixin over a stored Client."""

    def __init__(self, model: Client) -> None:
        self.model = model
        self.metadata = model.client_metadata

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.model.redirect_uris
        return uris[0] if len(uris) == 1 else None  # several registered: the request must name one

    def get_allowed_scope(self, scope: str | None) -> str:
        """What a person may grant at the authorization endpoint: OIDC scopes only. Admin API
        scopes are machine scopes, issued by client_credentials alone (the admin API does not
        check the person's own permissions)."""
        allowed = [s for s in self.model.scope.split() if s in SCOPES]
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return matches_redirect_uri(redirect_uri, self.model.redirect_uris, self.model.application_type)

    def check_client_secret(self, client_secret: str) -> bool:
        return check_client_secret(self.model, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.model.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.model.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.model.self_registered:
            return False  # also for clients registered before registration refused it
        return grant_type in self.model.grant_types

    def machine_scopes(self) -> set[str]:
        """The scopes client_credentials may issue: the operator-given ones; none for a
        self-registered client (docs/decisions/admin-scopes-operator-only.md)."""
        if self.model.self_registered:
            return set()
        return set(self.model.scope.split()) - {"openid", "offline_access"}

    @property
    def id_token_signed_response_alg(self) -> str:
        return str(self.metadata.get("id_token_signed_response_alg", "RS256"))


def matches_redirect_uri(uri: str, registered: list[str], application_type: str) -> bool:
    """Exact match; for native clients a loopback URI matches on any port (RFC 8252 §7.3)."""
    if uri in registered:
        return True
    if application_type != "native":
        return False
    asked = urlsplit(uri)
    if asked.scheme != "http" or not is_loopback_host(asked.hostname):
        return False
    for candidate in registered:
        known = urlsplit(candidate)
        if (known.scheme, known.hostname, known.path, known.query) == (
            asked.scheme, asked.hostname, asked.path, asked.query
        ):
            return True
    return False
