"""Protocol endpoints of a tenant. Thin: read the request, ask idp.oauth, answer.

Only after the client and redirect URI are verified may an error travel back to the client
(RFC 6749 §4.1.2.1); before that a person gets an error page. Every authorization response,
errors included, carries `iss` (RFC 9207).
"""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from idp import clock
from idp.accounts.service import get_user
from idp.db import db
from idp.errors import InvalidToken, PortcullisError
from idp.oauth import authorize as flow
from idp.oauth import interactions as pipeline
from idp.oauth import registration, tokens
from idp.oauth.claims import for_scopes
from idp.oauth.client_metadata import ClientMetadataError
from idp.oauth.discovery import acr_for, openid_configuration
from idp.oauth.errors import (
    AuthorizationError,
    ExpiredAuthorizationRequest,
    InvalidAuthorizationRequest,
    InvalidLogoutRequest,
)
from idp.oauth.grants import issue_code, start_grant
from idp.oauth.logout import sign_out
from idp.oauth.models import AuthorizationRequest
from idp.oauth.server import OAuthClient, authorization_server, current_issuer, stored_request, tenant_issuers
from idp.sessions.web import clear_session_cookie
from idp.signing.service import published_keys
from idp.tenancy.context import current_route, current_tenant, require_tenant
from idp.web import csrf
from idp.web.csrf import csrf_exempt
from idp.web.errors import answers_json
from idp.web.pages import render_page

bp = Blueprint("oauth", __name__)
bp.before_request(require_tenant)


@bp.get("/.well-known/openid-configuration")
@answers_json
def discovery() -> Response:
    response = jsonify(openid_configuration(current_issuer()))
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


@bp.get("/jwks")
@answers_json
def jwks() -> Response:
    response = jsonify({"keys": published_keys(current_tenant())})
    response.cache_control.public = True
    response.cache_control.max_age = 300  # rotation publishes new keys well before they sign
    return response


@bp.route("/authorize", methods=["GET", "POST"])
@csrf_exempt  # relying parties may POST the request (OIDC Core §3.1.2.1); nothing here trusts cookies to act
def authorize() -> ResponseReturnValue:
    server = authorization_server()
    try:
        grant = server.get_consent_grant(end_user=_signed_in_user_for(request.values.get("client_id")))
    except OAuth2Error as error:
        raise AuthorizationError(error, current_issuer()) from None
    client: OAuthClient = grant.request.client
    params = flow.kept_parameters(request.values.to_dict(flat=True), grant.request.scope)
    pending = flow.save_pending(current_tenant(), client.get_client_id(), params, current_issuer())
    return _continue(pending)


@bp.get("/authorize/continue/<request_id>")
def continue_authorization(request_id: str) -> ResponseReturnValue:
    return _continue(_pending(request_id))


@bp.post("/authorize/consent/<request_id>")
def consent(request_id: str) -> ResponseReturnValue:
    tenant = current_tenant()
    pending = _pending(request_id)
    client, user, redirect_uri = _revalidate(pending)
    if user is None:
        return redirect(url_for("login.sign_in_form", request=pending.id), code=303)
    if request.form.get("decision") != "allow":
        flow.finish_pending(pending)
        return _redirect_to_client(redirect_uri, pending, {"error": "access_denied"})
    flow.record_consent(tenant, user.id, client.model.id, pending.params["scope"])
    return redirect(url_for("oauth.continue_authorization", request_id=pending.id), code=303)


@bp.post("/token")
@csrf_exempt  # authenticated by client credentials, not cookies
@answers_json
def token() -> Response:
    """Requests the WSGI front (token_endpoint.py) does not take: the same server, and the same
    unit-of-work rule (idp.unit_of_work.finish, after the response)."""
    response: Response = authorization_server().create_token_response()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf_exempt  # bearer-token authenticated
@answers_json
def userinfo() -> Response:
    tenant = current_tenant()
    access = tokens.verify_access_token(tenant, _bearer_token(), tenant_issuers(tenant))
    if access is None or "openid" not in access.scopes:
        raise InvalidToken("The access token is invalid, expired or revoked.")
    user = _user_by_sub(access.sub)
    if user is None:
        raise InvalidToken("The person no longer exists.")
    return jsonify(for_scopes(tenant, user, access.scopes))


@bp.post("/revoke")
@csrf_exempt
@answers_json
def revoke() -> Response:
    response: Response = authorization_server().create_endpoint_response("revocation")
    return response


@bp.post("/introspect")
@csrf_exempt
@answers_json
def introspect() -> Response:
    response: Response = authorization_server().create_endpoint_response("introspection")
    return response


@bp.route("/end-session", methods=["GET", "POST"])
@csrf_exempt  # the relying party may POST; this only shows a page, the button below acts
def end_session() -> ResponseReturnValue:
    """RP-initiated logout: always a confirmation page (GET never changes state)."""
    tenant = current_tenant()
    values = request.values
    hint = values.get("id_token_hint", "")
    claims = tokens.decode(tenant, hint, tenant_issuers(tenant), check_exp=False) if hint else None
    if hint and claims is None:
        raise InvalidLogoutRequest()
    client = _logout_client(values.get("client_id"), claims)
    redirect_uri = values.get("post_logout_redirect_uri", "")
    if redirect_uri and not (claims and client and redirect_uri in client.model.post_logout_redirect_uris):
        redirect_uri = ""  # never redirect to a URI that is not registered, nor without a verified hint
    return render_page("oauth/end_session.html", client=client, user=g.user,
                       redirect_uri=redirect_uri, state=values.get("state", "")[:2000] if redirect_uri else "")


@bp.post("/end-session/confirm")
def confirm_end_session() -> ResponseReturnValue:
    tenant = current_tenant()
    redirect_uri = request.form.get("post_logout_redirect_uri", "")
    client = _logout_client(request.form.get("client_id"), None)
    if not client or redirect_uri not in client.model.post_logout_redirect_uris:
        redirect_uri = ""
    if g.browser_session is not None:
        sign_out(tenant, g.browser_session, g.user)
    target = url_for("login.signed_out")
    if redirect_uri:
        state = request.form.get("state", "")
        target = add_params_to_uri(redirect_uri, {"state": state}) if state else redirect_uri
    response = redirect(target, code=303)
    clear_session_cookie(response, current_route())
    csrf.rotate()
    return response


# Steps that end the request with an error sent back to the client (OIDC Core §3.1.2.6).
SILENT_ERRORS = {
    "login_required": "login_required", "consent_required": "consent_required",
    "interaction_required": "interaction_required", "invalid_max_age": "invalid_request",
}


def _continue(pending: AuthorizationRequest) -> ResponseReturnValue:
    tenant = current_tenant()
    client, user, redirect_uri = _revalidate(pending)
    params = pending.params
    session = g.browser_session if user is not None else None
    situation = flow.Situation(
        prompts=frozenset(params.get("prompt", "").split()), max_age=params.get("max_age"),
        signed_in=user is not None, auth_time=session.auth_time if session else None,
        pending_since=pending.created_at, now=clock.now(),
        hint_matches=_hint_matches(params.get("id_token_hint"), user.sub if user else None),
        needs_consent=bool(user) and not client.model.first_party and not flow.has_consent(
            tenant, user.id, client.model.id, params["scope"]),
    )
    step: str = flow.decide(situation)
    if step in ("consent", "issue") and user is not None and session is not None:
        acr_values = tuple(params.get("acr_values", "").split())
        silent = "none" in situation.prompts  # notices wait for the next interactive sign-in
        ctx = pipeline.Context(tenant, user, session, pending.id, acr_values)
        step_url = pipeline.next_step_url(ctx, blocking_only=silent)
        if step_url is not None and silent:
            step = "interaction_required"  # OIDC Core §3.1.2.1: prompt=none never shows a page
        elif step_url is not None:  # the sign-in pipeline is not finished: no code yet
            return redirect(step_url)
    if step == "login":
        return redirect(url_for("login.sign_in_form", request=pending.id), code=303)
    if step == "consent":
        return render_page("oauth/consent.html", client=client.model, scopes=params["scope"].split(),
                           pending=pending, user=user)
    if step in SILENT_ERRORS:
        error = SILENT_ERRORS[step]
        flow.finish_pending(pending)
        return _redirect_to_client(redirect_uri, pending, {"error": error})
    assert user is not None and session is not None
    grant = start_grant(
        tenant, client_pk=client.model.id, user_id=user.id, session=session, scope=params["scope"],
        issuer=pending.issuer, nonce=params.get("nonce"), amr=session.amr, acr=acr_for(session.amr),
    )
    code = issue_code(tenant, grant, redirect_uri=params.get("redirect_uri", ""),  # as requested (RFC 6749 §4.1.3)
                      code_challenge=params.get("code_challenge"),
                      code_challenge_method=params.get("code_challenge_method"))
    flow.finish_pending(pending)
    return _redirect_to_client(redirect_uri, pending, {"code": code})


def _pending(request_id: str) -> AuthorizationRequest:
    pending = flow.load_pending(current_tenant(), request_id)
    if pending is None:
        raise ExpiredAuthorizationRequest()
    return pending


def _revalidate(pending: AuthorizationRequest) -> tuple[OAuthClient, Any, str]:
    """Validate the stored request again (the client may have changed) with the current session."""
    user = _signed_in_user_for(pending.client_id)
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


def _signed_in_user_for(client_id: str | None) -> Any:
    """The signed-in person, if they belong to the pool the client serves."""
    user = g.get("user")
    if user is None or not client_id:
        return None
    client = authorization_server().query_client(client_id)
    if client is None or client.model.pool != user.pool:
        return None
    return user


def _hint_matches(hint: str | None, sub: str | None) -> bool:
    if not hint or sub is None:
        return True
    tenant = current_tenant()
    claims = tokens.decode(tenant, hint, tenant_issuers(tenant), check_exp=False)
    return claims is not None and claims.get("sub") == sub


def _redirect_to_client(redirect_uri: str, pending: AuthorizationRequest, params: dict[str, str]) -> Response:
    state = pending.params.get("state")
    if state:
        params["state"] = state
    params["iss"] = pending.issuer
    return redirect(add_params_to_uri(redirect_uri, params), code=302)


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token", "")
    return ""


def _user_by_sub(sub: str) -> Any:
    from sqlalchemy import select

    from idp.accounts.models import User

    tenant = current_tenant()
    user_id = db.session.execute(
        select(User.id).where(User.tenant_id == tenant.id, User.sub == sub)
    ).scalar_one_or_none()
    return get_user(tenant, user_id) if user_id else None


def _logout_client(client_id: str | None, claims: dict[str, Any] | None) -> OAuthClient | None:
    server = authorization_server()
    audience = claims.get("aud") if claims else None
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if client_id and claims and client_id not in audiences:
        raise InvalidLogoutRequest("The sign-out request names a different application than its ID token.")
    wanted = client_id or (audiences[0] if audiences else None)
    return server.query_client(str(wanted)) if wanted else None


@bp.post("/register")
@csrf_exempt  # bearer-token authenticated (RFC 7591 §3)
@answers_json
def register_client_endpoint() -> Response:
    tenant = current_tenant()
    if not registration.check_initial_access_token(tenant, _bearer_token()):
        raise InvalidToken("A valid initial access token is required to register.")
    metadata = _json_body()
    if metadata is None:
        raise ClientMetadataError("invalid_client_metadata", "The body must be a JSON object.")
    registered = registration.register(tenant, metadata)
    body = registration.client_information(registered.client, current_issuer(), registered)
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf_exempt  # bearer-token authenticated (RFC 7592 §2)
@answers_json
def manage_client(client_id: str) -> Response:
    tenant = current_tenant()
    client = registration.managed_client(tenant, client_id, _bearer_token())
    if client is None:  # unknown client and wrong token look the same (RFC 7592 §2.1)
        raise InvalidToken("The registration access token is not valid for this client.")
    if request.method == "DELETE":
        registration.delete(client)
        return Response(status=204)
    new_secret = None
    if request.method == "PUT":
        metadata = _json_body()
        if metadata is None or metadata.get("client_id") != client.client_id:
            raise ClientMetadataError("invalid_client_metadata",
                                      "The body must be the client's metadata with its client_id.")
        new_secret = registration.update(client, {k: v for k, v in metadata.items() if k not in READ_ONLY_FIELDS})
    body = registration.client_information(client, current_issuer())
    if request.method == "PUT" and new_secret:
        body.update(client_secret=new_secret, client_secret_expires_at=0)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


READ_ONLY_FIELDS = ("client_id", "client_secret", "registration_access_token", "registration_client_uri",
                    "client_id_issued_at", "client_secret_expires_at")


def _json_body() -> dict[str, Any] | None:
    if request.mimetype != "application/json":
        return None
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def deny_pending_request(request_id: str | None) -> Response | None:
    """End the waiting authorization request with `access_denied` (the person declined what the
    app cannot do without); None when none waits or its client or redirect URI no longer check
    out."""
    pending = flow.load_pending(current_tenant(), request_id) if request_id else None
    if pending is None:
        return None
    try:
        _, _, redirect_uri = _revalidate(pending)
    except PortcullisError:
        return None
    flow.finish_pending(pending)
    return _redirect_to_client(redirect_uri, pending, {"error": "access_denied"})
