"""Protocol endpoints of a tenant. Thin: read the request, ask idp.oauth, answer.

Only after the client and redirect URI are verified may an error travel back to the client
(RFC 6749 §4.1.2.1); before that a person gets an error page. Every authorization response,
errors included, carries `iss` (RFC 9207).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Blueprint, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from idp.accounts.models import User
from idp.accounts.service import find_user_by_sub
from idp.errors import InvalidToken
from idp.oauth import authorization, cors, registration, tokens
from idp.oauth.authorize import load_pending
from idp.oauth.claims import for_scopes
from idp.oauth.client_metadata import ClientMetadataError
from idp.oauth.clients import find_client
from idp.oauth.discovery import openid_configuration
from idp.oauth.issuers import current_issuer, tenant_issuers
from idp.oauth.logout import confirmed_logout_location, logout_request, sign_out
from idp.oauth.oauth_client import OAuthClient
from idp.oauth.server import authorization_server
from idp.sessions.models import BrowserSession
from idp.sessions.web import clear_session_cookie
from idp.signing.service import published_keys
from idp.tenancy.context import current_route, current_tenant, require_tenant
from idp.web import csrf
from idp.web.csrf import csrf_exempt
from idp.web.errors import answers_json
from idp.web.inputs import json_object
from idp.web.pages import render_page

bp = Blueprint("oauth", __name__)
bp.before_request(require_tenant)


@bp.after_request
def cross_origin(response: Response) -> Response:
    """CORS for browser apps, by the rules of idp.oauth.cors (a view names its client in g)."""
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        cors.preflight_headers(response.headers, origin, request.endpoint, response.headers.get("Allow", ""))
    else:
        cors.answer_headers(response.headers, origin, request.endpoint, g.get("cors_client"))
    return response


def _answering(oauth_request: OAuth2Request) -> None:
    """The client the request authenticated as answers the CORS question (idp.oauth.cors)."""
    client: OAuthClient | None = oauth_request.client
    g.cors_client = client.model if client is not None else None


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
    tenant = current_tenant()
    pending = authorization.start(tenant, request.values.to_dict(flat=True), g.user)
    return _respond(authorization.continue_request(tenant, pending, g.user, g.browser_session))


@bp.get("/authorize/continue/<request_id>")
def continue_authorization(request_id: str) -> ResponseReturnValue:
    tenant = current_tenant()
    pending = authorization.pending_request(tenant, request_id)
    return _respond(authorization.continue_request(tenant, pending, g.user, g.browser_session))


def continue_after_sign_in(request_id: str, user: User, session: BrowserSession) -> Response:
    """The answer to a page that has just signed `user` in for the pending request: what
    GET /authorize/continue/<id> would answer with the new session, one redirect sooner, when that
    is a redirect (the code, or an error, for the app; a step of the pipeline). A page to show
    (consent) is left to that GET, so the browser's POST is never the page's address."""
    tenant = current_tenant()
    pending = load_pending(tenant, request_id)
    outcome = authorization.continue_request(tenant, pending, user, session) if pending is not None else None
    if isinstance(outcome, authorization.ToClient):
        return redirect(outcome.location, code=303)
    if isinstance(outcome, authorization.ToStep):
        return redirect(outcome.url, code=303)
    # a page to show (consent), or a request that expired while the person typed (signed in all
    # the same): the GET answers it
    return redirect(url_for("oauth.continue_authorization", request_id=request_id), code=303)


@bp.post("/authorize/consent/<request_id>")
def consent(request_id: str) -> ResponseReturnValue:
    tenant = current_tenant()
    pending = authorization.pending_request(tenant, request_id)
    outcome = authorization.answer_consent(tenant, pending, g.user, request.form.get("decision") == "allow")
    if outcome is None:
        return redirect(url_for("oauth.continue_authorization", request_id=pending.id), code=303)
    return _respond(outcome)


def _respond(outcome: authorization.Outcome) -> ResponseReturnValue:
    if isinstance(outcome, authorization.ToSignIn):
        return redirect(url_for("login.sign_in_form", request=outcome.request_id), code=303)
    if isinstance(outcome, authorization.ToStep):
        return redirect(outcome.url)
    if isinstance(outcome, authorization.ShowConsent):
        return render_page("oauth/consent.html", client=outcome.client, scopes=outcome.scopes,
                           pending=outcome.pending, user=outcome.user)
    return redirect(outcome.location, code=302)


@bp.post("/token")
@csrf_exempt  # authenticated by client credentials, not cookies
@answers_json
def token() -> Response:
    """Requests the WSGI front (token_endpoint.py) does not take: the same server, and the same
    unit-of-work rule (idp.unit_of_work.finish, after the response)."""
    server = authorization_server()
    oauth_request = server.create_oauth2_request(None)
    response: Response = server.create_token_response(oauth_request)
    _answering(oauth_request)
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf_exempt  # bearer-token authenticated
@answers_json
def userinfo() -> Response:
    tenant = current_tenant()
    access = tokens.verify_access_token(tenant, _bearer_token(), tenant_issuers(tenant))
    if access is None or "openid" not in access.scopes:
        raise InvalidToken("The access token is invalid, expired or revoked.")
    if "Origin" in request.headers:  # a browser app's call: may it read the answer (idp.oauth.cors)
        g.cors_client = find_client(tenant, access.client_id)
    user = find_user_by_sub(tenant, access.sub)
    if user is None:
        raise InvalidToken("The person no longer exists.")
    response = jsonify(for_scopes(tenant, user, access.scopes, access.family_id))
    response.headers["Cache-Control"] = "no-store"  # personal data: no cache may keep it
    return response


@bp.post("/revoke")
@csrf_exempt
@answers_json
def revoke() -> Response:
    server = authorization_server()
    oauth_request = server.create_oauth2_request(None)
    response: Response = server.create_endpoint_response("revocation", oauth_request)
    _answering(oauth_request)
    return response


@bp.post("/introspect")
@csrf_exempt
@answers_json
def introspect() -> Response:
    response: Response = authorization_server().create_endpoint_response("introspection")
    response.headers["Cache-Control"] = "no-store"  # whose token, with which scopes
    return response


@bp.route("/end-session", methods=["GET", "POST"])
@csrf_exempt  # the relying party may POST; this only shows a page, the button below acts
def end_session() -> ResponseReturnValue:
    """RP-initiated logout: always a confirmation page (GET never changes state)."""
    values = request.values
    asked = logout_request(current_tenant(), id_token_hint=values.get("id_token_hint", ""),
                           client_id=values.get("client_id"), redirect_uri=values.get("post_logout_redirect_uri", ""),
                           state=values.get("state", ""))
    return render_page("oauth/end_session.html", client=asked.client, user=g.user, redirect_uri=asked.redirect_uri,
                       state=asked.state)


@bp.post("/end-session/confirm")
def confirm_end_session() -> ResponseReturnValue:
    form = request.form
    location = confirmed_logout_location(form.get("client_id"), form.get("post_logout_redirect_uri", ""),
                                         form.get("state", ""))
    if g.browser_session is not None:
        sign_out(current_tenant(), g.browser_session, g.user)
    response = redirect(location or url_for("login.signed_out"), code=303)
    clear_session_cookie(response, current_route())
    csrf.rotate()
    return response


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token", "")
    return ""


@bp.post("/register")
@csrf_exempt  # bearer-token authenticated (RFC 7591 §3)
@answers_json
def register_client_endpoint() -> Response:
    tenant = current_tenant()
    if not registration.check_initial_access_token(tenant, _bearer_token()):
        raise InvalidToken("A valid initial access token is required to register.")
    metadata = json_object()
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
        if not registration.delete(client):
            raise InvalidToken("The registration access token is not valid for this client.")
        return Response(status=204)
    new_secret = None
    if request.method == "PUT":
        metadata = json_object()
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



def deny_pending_request(request_id: str | None) -> Response | None:
    """End the waiting authorization request with `access_denied`, as a redirect to the client;
    None when there is none to end (see `authorization.deny`)."""
    outcome = authorization.deny(current_tenant(), request_id, g.user)
    return redirect(outcome.location, code=302) if outcome is not None else None
