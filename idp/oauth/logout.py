"""Ending a browser session everywhere it reached: grants revoked, relying parties told; and
RP-initiated logout's checks (OpenID Connect RP-Initiated Logout 1.0 §2-3): a relying party is
sent back only to a registered post-logout URI, and only with a verified ID token hint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri

from idp.accounts.models import User
from idp.accounts.service import get_user
from idp.oauth import tokens
from idp.oauth.backchannel import queue_logout
from idp.oauth.errors import InvalidLogoutRequest
from idp.oauth.grants import revoke_session_grants, revoke_user_grants
from idp.oauth.issuers import tenant_issuers
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.server import authorization_server
from idp.sessions.models import BrowserSession
from idp.sessions.service import end_all_sessions, end_session
from idp.tenancy.models import Tenant


def sign_out(tenant: Tenant, session: BrowserSession, user: User | None) -> None:
    """End `session`, revoke the refresh tokens issued in it and queue back-channel logouts."""
    end_session(session)
    grants = revoke_session_grants(tenant, session.id)
    queue_logout(tenant, grants, user.sub if user else None)


def sign_out_everywhere(tenant: Tenant, user: User) -> None:
    """End every session of `user`, revoke all their grants and tell relying parties (password
    changed, account disabled). The unit of work commits."""
    end_all_sessions(tenant, user)
    grants = revoke_user_grants(tenant, user.id)
    queue_logout(tenant, grants, user.sub)


@dataclass(frozen=True)
class LogoutRequest:
    client: OAuthClient | None
    redirect_uri: str  # empty unless registered for the client and the ID token hint verified
    state: str


def logout_request(tenant: Tenant, *, id_token_hint: str, client_id: str | None, redirect_uri: str,
                   state: str) -> LogoutRequest:
    """What the confirmation page offers. Raises InvalidLogoutRequest for a hint that does not verify."""
    claims = tokens.decode(tenant, id_token_hint, tenant_issuers(tenant), check_exp=False) if id_token_hint else None
    if id_token_hint and claims is None:
        raise InvalidLogoutRequest()
    client = logout_client(client_id, claims)
    if redirect_uri and not (claims and client and redirect_uri in client.model.post_logout_redirect_uris):
        redirect_uri = ""  # never redirect to a URI that is not registered, nor without a verified hint
    return LogoutRequest(client, redirect_uri, state[:2000] if redirect_uri else "")


def confirmed_logout_location(client_id: str | None, redirect_uri: str, state: str) -> str | None:
    """Where the confirmed sign-out goes: the client's registered post-logout URI, else None."""
    client = logout_client(client_id, None)
    if not redirect_uri or not client or redirect_uri not in client.model.post_logout_redirect_uris:
        return None
    return str(add_params_to_uri(redirect_uri, {"state": state})) if state else redirect_uri


def logout_client(client_id: str | None, claims: dict[str, Any] | None) -> OAuthClient | None:
    audience = claims.get("aud") if claims else None
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if client_id and claims and client_id not in audiences:
        raise InvalidLogoutRequest("The sign-out request names a different application than its ID token.")
    wanted = client_id or (audiences[0] if audiences else None)
    return authorization_server().query_client(str(wanted)) if wanted else None


def replace_session(tenant: Tenant, previous: BrowserSession) -> None:
    """Another person signing in in this browser logs the old session out, exactly as "Log out"
    would: its grants are revoked and relying parties told (a shared front-desk PC must not leave
    the previous person signed in at the portals). See docs/decisions/new-sign-in-logs-out.md."""
    previous_user = get_user(tenant, previous.user_id) if previous.user_id else None
    sign_out(tenant, previous, previous_user)
