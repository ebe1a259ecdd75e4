"""The federation pages: leave for the upstream, its callback, finishing in the browser that left,
and proving a local account before linking. Thin: the rules are in service.py."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from flask import Blueprint, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from idp.accounts.passwords import MAX_PASSWORD_LENGTH
from idp.errors import NotFound
from idp.federation import service
from idp.federation.connections import callback_uri, connection_by_slug, service_provider
from idp.federation.models import Connection
from idp.oauth.issuers import current_issuer
from idp.sessions.web import set_session_cookie
from idp.tenancy.context import current_route, current_tenant, require_tenant
from idp.web import csrf
from idp.web.csrf import csrf_exempt
from idp.web.errors import show_errors_on
from idp.web.pages import render_page

if TYPE_CHECKING:  # pysaml2 is imported by SAML work only (it takes most of a second)
    from idp.federation.saml import ServiceProvider

bp = Blueprint("federation", __name__)
bp.before_request(require_tenant)

BROWSER_COOKIE = "portcullis_federation"
MAX_REQUEST_ID = 64
SIGN_IN_POOL = "staff"  # the pool of the sign-in page


def departure(connection: Connection, *, request_id: str | None, persistent: bool,
              login_hint: str | None = None) -> Response:
    """To the upstream, with the cookie that lets only this browser finish (also the sign-in
    form's email-first path)."""
    tenant = current_tenant()
    leaving = service.depart(
        tenant, connection, callback_uri=_callback_uri(connection), return_base=current_issuer(),
        request_id=request_id if request_id and len(request_id) <= MAX_REQUEST_ID else None,
        persistent=persistent, login_hint=login_hint, sp=_sp(connection) if connection.kind == "saml" else None,
    )
    response = redirect(leaving.url, code=303)
    response.set_cookie(BROWSER_COOKIE, leaving.browser_token, max_age=service.TRIP_SECONDS, httponly=True,
                        samesite="Lax", secure=current_app.config["IDP"].secure_cookies,
                        path=current_route().cookie_path)
    return response


@bp.post("/federation/<slug>/start")
def start(slug: str) -> ResponseReturnValue:
    """A "Continue with NAME" button of the sign-in page (a form: CSRF-checked, never a GET)."""
    connection = _connection(slug)
    return departure(connection, request_id=request.form.get("request"),
                     persistent=request.form.get("stay_logged_in") == "on")


@bp.get("/federation/<slug>/callback")
def callback(slug: str) -> ResponseReturnValue:
    """The upstream's redirect (RFC 6749 §4.1.2): redeem, check, then on to the form it began at."""
    connection = _connection(slug)
    if connection.kind == "saml":
        raise NotFound("A SAML connection answers at its ACS.")
    state = request.args.get("state", "")
    trip = service.come_back(current_tenant(), connection, state=state, code=request.args.get("code"),
                             error=request.args.get("error"), callback_uri=_callback_uri(connection))
    return redirect(f"{trip.return_base}/federation/complete?state={quote(state, safe='')}", code=303)


@bp.get("/federation/<slug>/saml/metadata")
def saml_metadata(slug: str) -> Response:
    """Our SP metadata (the entity id is this URL): the certificate that signs our AuthnRequests, the ACS."""
    from idp.federation import saml

    connection = _connection(slug, kind="saml")
    return Response(saml.metadata_xml(_sp(connection)), mimetype="application/samlmetadata+xml")


@bp.post("/federation/<slug>/saml/acs")
@csrf_exempt  # the IdP's auto-posted form, cross-site by nature; bound to the trip by RelayState
def saml_acs(slug: str) -> ResponseReturnValue:
    """The assertion consumer service (HTTP-POST binding), then on to the form the trip began at."""
    connection = _connection(slug, kind="saml")
    relay_state = request.form.get("RelayState", "")
    trip = service.come_back_saml(current_tenant(), connection, _sp(connection), relay_state=relay_state,
                                  saml_response=request.form.get("SAMLResponse", ""))
    return redirect(f"{trip.return_base}/federation/complete?state={quote(relay_state, safe='')}", code=303)


@bp.get("/federation/complete")
def complete() -> ResponseReturnValue:
    """In the browser that left (its cookie): sign in, or ask for the account's password first.
    Like every OAuth callback this GET acts, bound to the browser by the cookie and the state."""
    state = request.args.get("state", "")
    trip, outcome = service.finish(current_tenant(), state=state, browser_token=_browser_token(),
                                   previous=g.browser_session, ip=request.remote_addr or "")
    if isinstance(outcome, service.NeedsPassword):
        return render_page("federation/link.html", state=state, connection=outcome.connection,
                           email=outcome.user.email, alert=None)
    return _signed_in(trip.request_id, outcome)


@bp.post("/federation/link")
def link() -> ResponseReturnValue:
    state = request.form.get("state", "")
    connection, email = service.awaiting_password(current_tenant(), state=state, browser_token=_browser_token())
    show_errors_on(render_page, "federation/link.html", state=state, connection=connection, email=email)
    password = request.form.get("password", "")[:MAX_PASSWORD_LENGTH + 1]
    trip, signed_in = service.prove_and_link(current_tenant(), state=state, browser_token=_browser_token(),
                                             password=password, previous=g.browser_session,
                                             ip=request.remote_addr or "")
    return _signed_in(trip.request_id, signed_in)


def _signed_in(request_id: str | None, signed_in: service.SignedIn) -> Response:
    location = url_for("login.continue_sign_in", request=request_id) if request_id else url_for(
        "login.continue_sign_in")
    response = redirect(location, code=303)
    set_session_cookie(response, signed_in.started, current_route())
    response.delete_cookie(BROWSER_COOKIE, path=current_route().cookie_path)
    csrf.rotate()
    return response


def _connection(slug: str, kind: str | None = None) -> Connection:
    connection = connection_by_slug(current_tenant(), slug)
    if connection is None or connection.pool != SIGN_IN_POOL or (kind is not None and connection.kind != kind):
        raise NotFound("There is no such sign-in provider here.")
    return connection


def _sp(connection: Connection) -> ServiceProvider:
    return service_provider(current_app.config["IDP"], current_tenant().account, connection)


def _callback_uri(connection: Connection) -> str:
    return callback_uri(current_app.config["IDP"], current_tenant().account, connection.slug)


def _browser_token() -> str:
    return request.cookies.get(BROWSER_COOKIE, "")
