"""The authorization code grant (RFC 6749 §4.1) over stored, single-use codes; request objects
refused (OIDC Core §6)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from idp.accounts.models import User
from idp.accounts.service import get_user
from idp.oauth import grants as grant_service
from idp.oauth.client_auth import AUTH_METHODS
from idp.oauth.models import Grant
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.token_issuing import TokenIssuing
from idp.tenancy.context import current_tenant


class StoredCode:
    """Authlib's AuthorizationCodeMixin over a spent code and its grant."""

    def __init__(self, redirect_uri: str | None, grant: Grant, code_challenge: str | None, method: str | None) -> None:
        self.redirect_uri = redirect_uri
        self.grant = grant
        self.code_challenge = code_challenge
        self.code_challenge_method = method

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope

    def get_nonce(self) -> str | None:
        return self.grant.nonce

    def get_auth_time(self) -> int | None:
        return int(self.grant.auth_time.timestamp()) if self.grant.auth_time else None

    def get_acr(self) -> str | None:
        return self.grant.acr

    def get_amr(self) -> list[str]:
        return self.grant.amr.split()


class AuthorizationCodeGrant(TokenIssuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OAuthClient) -> str:
        """OIDC Core §3.1.2.1 makes redirect_uri REQUIRED in an OpenID request; plain OAuth may
        fall back to the one registered URI (RFC 6749 §3.1.2.3). Raised without a redirect URI,
        so the person gets an error page."""
        if not request.payload.redirect_uri and "openid" in (request.payload.scope or "").split():
            raise InvalidRequestError("redirect_uri is required in an OpenID Connect request.")
        return str(grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client))

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        raise NotImplementedError("codes are issued by idp.oauth.authorize")  # pragma: no cover

    def query_authorization_code(self, code: str, client: OAuthClient) -> StoredCode | None:
        try:
            row, grant = grant_service.spend_code(current_tenant(), code, client.model.id)
        except grant_service.GrantError:
            return None
        self.request.grant_row = grant
        return StoredCode(self._redirect_uri_to_match(row.redirect_uri, client), grant, row.code_challenge,
                          row.code_challenge_method)

    def _redirect_uri_to_match(self, requested: str, client: OAuthClient) -> str | None:
        """RFC 6749 §4.1.3: redirect_uri is required here only if the authorization request had
        one (`requested`, else empty). One sent anyway must be where the code went."""
        if requested:
            return requested
        if not self.request.payload.redirect_uri:
            return None
        sent_to = client.get_default_redirect_uri()
        if sent_to is None:  # the client registered more URIs since: where the code went is unknown
            raise InvalidGrantError("Invalid 'redirect_uri' in request.")
        return sent_to

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Spent in query_authorization_code, atomically."""

    def authenticate_user(self, authorization_code: StoredCode) -> User | None:
        user_id = authorization_code.grant.user_id
        return get_user(current_tenant(), user_id) if user_id else None


def refuse_request_objects(grant: Any) -> None:
    """OIDC Core §6: request objects are not supported (discovery says so), so `request` and
    `request_uri` are refused rather than ignored. Runs after the client and redirect URI are
    validated, so the error goes back to the client."""

    def hook(grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError("Request objects are not supported.")
        if "request_uri" in data:
            raise RequestURINotSupportedError("request_uri is not supported.")

    grant.register_hook("before_validate_authorization_request_payload", hook)
