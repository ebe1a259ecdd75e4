"""The authorization endpoint's flow (OIDC Core §3.1.2): start a request, continue it after each
sign-in step, answer consent, end it. Returns what should happen next as a value; the views turn
it into a response.

Only after the client and redirect URI are verified may an error travel back to the client
(RFC 6749 §4.1.2.1); before that the person gets an error page (`AuthorizationError`,
`InvalidAuthorizationRequest`). Every authorization response, errors included, carries `iss`
(RFC 9207). The pure decision is `authorize.decide`; the sign-in steps are `interactions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError

from idp import clock
from idp.accounts.models import User
from idp.errors import PortcullisError
from idp.oauth import authorize as flow
from idp.oauth import interactions, tokens
from idp.oauth.claims import chosen_family
from idp.oauth.discovery import acr_for
from idp.oauth.errors import AuthorizationError, ExpiredAuthorizationRequest, InvalidAuthorizationRequest
from idp.oauth.grants import issue_code, start_grant
from idp.oauth.issuers import current_issuer, tenant_issuers
from idp.oauth.models import AuthorizationRequest, Client
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.requests import stored_request
from idp.oauth.server import authorization_server
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant


@dataclass(frozen=True)
class ToSignIn:
    request_id: str


@dataclass(frozen=True)
class ToStep:
    url: str


@dataclass(frozen=True)
class ShowConsent:
    client: Client
    scopes: list[str]
    pending: AuthorizationRequest
    user: User


@dataclass(frozen=True)
class ToClient:
    location: str


Outcome = ToSignIn | ToStep | ShowConsent | ToClient

# Steps that end the request with an error sent back to the client (OIDC Core §3.1.2.6).
SILENT_ERRORS = {
    "login_required": "login_required", "consent_required": "consent_required",
    "interaction_required": "interaction_required", "invalid_max_age": "invalid_request",
}


# What is checked before the redirect URI can be trusted: printable ASCII by grammar (RFC 6749
# Appendix A), and Authlib echoes the last two into error descriptions, which must be ASCII.
ASCII_PARAMETERS = ("client_id", "redirect_uri", "response_type")


def printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


def start(tenant: Tenant, values: dict[str, str], user: User | None) -> AuthorizationRequest:
    """Validate a new authorization request and keep it server-side; raises AuthorizationError.

    A client_id, redirect_uri or response_type outside its grammar gets an error page that does
    not repeat it: the redirect URI is not verified yet."""
    for name in ASCII_PARAMETERS:
        if not printable_ascii(values.get(name, "")):
            raise InvalidAuthorizationRequest(f"The parameter {name} holds characters it may not contain.")
    try:
        grant = authorization_server().get_consent_grant(end_user=signed_in_user_for(values.get("client_id"), user))
    except OAuth2Error as error:
        raise AuthorizationError(error, current_issuer()) from None
    client: OAuthClient = grant.request.client
    params = flow.kept_parameters(values, grant.request.scope)
    return flow.save_pending(tenant, client.get_client_id(), params, current_issuer())


def pending_request(tenant: Tenant, request_id: str) -> AuthorizationRequest:
    pending = flow.load_pending(tenant, request_id)
    if pending is None:
        raise ExpiredAuthorizationRequest()
    return pending


def continue_request(tenant: Tenant, pending: AuthorizationRequest, user: User | None,
                     session: BrowserSession | None) -> Outcome:
    """What comes next for a pending request, with the browser's current session."""
    client, user, redirect_uri = revalidate(pending, user)
    params = pending.params
    session = session if user is not None else None
    needs_consent = False
    if user is not None and not client.model.first_party:
        needs_consent = not flow.has_consent(tenant, user.id, client.model.id, params["scope"])
    situation = flow.Situation(
        prompts=frozenset(params.get("prompt", "").split()), max_age=params.get("max_age"),
        signed_in=user is not None, auth_time=session.auth_time if session else None,
        pending_since=pending.created_at, now=clock.now(),
        hint_matches=hint_matches(tenant, params.get("id_token_hint"), user.sub if user else None),
        needs_consent=needs_consent,
    )
    step: str = flow.decide(situation)
    if step in ("consent", "issue") and user is not None and session is not None:
        silent = "none" in situation.prompts  # notices wait for the next interactive sign-in
        ctx = interactions.context_of(tenant, user, session, pending)
        step_url = interactions.next_step_url(ctx, blocking_only=silent)
        if step_url is not None and silent:
            step = "interaction_required"  # OIDC Core §3.1.2.1: prompt=none never shows a page
        elif step_url is not None:  # the sign-in pipeline is not finished: no code yet
            return ToStep(step_url)
    if step == "login":
        return ToSignIn(pending.id)
    if step == "consent":
        assert user is not None
        return ShowConsent(client.model, params["scope"].split(), pending, user)
    if step in SILENT_ERRORS:
        flow.finish_pending(pending)
        return ToClient(client_location(redirect_uri, pending, {"error": SILENT_ERRORS[step]}))
    assert user is not None and session is not None
    return ToClient(client_location(redirect_uri, pending, {"code": _issue(tenant, pending, client, user, session)}))


def answer_consent(tenant: Tenant, pending: AuthorizationRequest, user: User | None, allowed: bool) -> Outcome | None:
    """The consent page's answer: None to continue the request, else where to go."""
    client, user, redirect_uri = revalidate(pending, user)
    if user is None:
        return ToSignIn(pending.id)
    if not allowed:
        flow.finish_pending(pending)
        return ToClient(client_location(redirect_uri, pending, {"error": "access_denied"}))
    flow.record_consent(tenant, user.id, client.model.id, pending.params["scope"])
    return None


def deny(tenant: Tenant, request_id: str | None, user: User | None) -> ToClient | None:
    """End the waiting request with `access_denied` (the person declined what the app cannot do
    without); None when none waits or its client or redirect URI no longer check out."""
    pending = flow.load_pending(tenant, request_id) if request_id else None
    if pending is None:
        return None
    try:
        _, _, redirect_uri = revalidate(pending, user)
    except PortcullisError:
        return None
    flow.finish_pending(pending)
    return ToClient(client_location(redirect_uri, pending, {"error": "access_denied"}))


def revalidate(pending: AuthorizationRequest, user: User | None) -> tuple[OAuthClient, User | None, str]:
    """Validate the stored request again (the client may have changed) with the current session."""
    user = signed_in_user_for(pending.client_id, user)
    server = authorization_server()
    try:
        server.get_consent_grant(request=stored_request(pending.params), end_user=user)
    except (LoginRequiredError, ConsentRequiredError):
        pass  # decided by flow.decide, with the full picture
    except OAuth2Error as error:
        raise AuthorizationError(error, pending.issuer) from None
    client = server.query_client(pending.client_id)
    if client is None:
        raise InvalidAuthorizationRequest("The application is not registered here.")
    redirect_uri = pending.params.get("redirect_uri") or client.get_default_redirect_uri()
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        raise InvalidAuthorizationRequest("The application's return address is not registered.")
    return client, user, redirect_uri


def signed_in_user_for(client_id: str | None, user: User | None) -> User | None:
    """The signed-in person, if they belong to the pool the client serves."""
    if user is None or not client_id:
        return None
    client = authorization_server().query_client(client_id)
    if client is None or client.model.pool != user.pool:
        return None
    return user


def hint_matches(tenant: Tenant, hint: str | None, sub: str | None) -> bool:
    if not hint or sub is None:
        return True
    claims = tokens.decode(tenant, hint, tenant_issuers(tenant), check_exp=False)
    return claims is not None and claims.get("sub") == sub


def client_location(redirect_uri: str, pending: AuthorizationRequest, params: dict[str, str]) -> str:
    state = pending.params.get("state")
    if state:
        params["state"] = state
    params["iss"] = pending.issuer
    return str(add_params_to_uri(redirect_uri, params))


def _issue(tenant: Tenant, pending: AuthorizationRequest, client: OAuthClient, user: User,
           session: BrowserSession) -> str:
    params: dict[str, Any] = pending.params
    grant = start_grant(
        tenant, client_pk=client.model.id, user_id=user.id, session=session, scope=params["scope"],
        issuer=pending.issuer, nonce=params.get("nonce"), amr=session.amr, acr=acr_for(session.amr),
        idp=session.idp, family_id=chosen_family(tenant, user, session),
    )
    code = issue_code(tenant, grant, redirect_uri=params.get("redirect_uri", ""),  # as requested (RFC 6749 §4.1.3)
                      code_challenge=params.get("code_challenge"),
                      code_challenge_method=params.get("code_challenge_method"))
    flow.finish_pending(pending)
    return code
