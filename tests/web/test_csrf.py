"""CSRF: every state-changing form needs a token minted for this browser at this tenant; GET changes nothing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from idp.web.csrf import COOKIE_NAME
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in

CREDENTIALS = {"email": "coach@example.com", "password": PASSWORD}


def token_at(client: FlaskClient, url: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get(url, follow_redirects=True, **kwargs).get_data(as_text=True))


def is_signed_in(client: FlaskClient, prefix: str = "/a/acme") -> bool:
    return client.get(f"{prefix}/signed-in").status_code == 200


def assert_refused(response) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= response.status_code < 500
    assert response.status_code not in (401, 429), "the form was processed"
    html = response.get_data(as_text=True)
    assert "did not come from this site" in html
    assert "Traceback" not in html


@pytest.fixture
def acme(app) -> None:  # type: ignore[no-untyped-def]
    make_user(make_tenant("acme", "Acme Swim School"))
    make_user(make_tenant("beta", "Beta Dance"))


@pytest.mark.parametrize(
    "token",
    [
        None,  # missing
        "",
        "0" * 64,  # forged: right shape, wrong value
        "not-a-token",
        "x" * 5000,
    ],
)
def test_sign_in_without_a_valid_token_is_refused(acme, client: FlaskClient, token: str | None) -> None:
    client.get("/a/acme/login")  # the browser holds a CSRF cookie
    form = dict(CREDENTIALS)
    if token is not None:
        form["csrf_token"] = token
    assert_refused(client.post("/a/acme/login", data=form))
    assert not is_signed_in(client)


def test_sign_in_without_the_cookie_is_refused(acme, client: FlaskClient) -> None:
    token = token_at(client, "/a/acme/login")
    stranger = client.application.test_client()  # an attacker's page: has a token, not the cookie
    assert_refused(stranger.post("/a/acme/login", data={**CREDENTIALS, "csrf_token": token}))


def test_token_of_another_tenant_is_refused(acme, client: FlaskClient) -> None:
    client.get("/a/acme/login")
    beta_token = token_at(client, "/a/beta/login")
    assert_refused(client.post("/a/acme/login", data={**CREDENTIALS, "csrf_token": beta_token}))
    assert not is_signed_in(client)


def test_cookie_and_token_carried_over_from_another_tenant_are_refused(acme, client: FlaskClient) -> None:
    """Plant beta's cookie nonce under acme's path and post beta's token: the scope still differs."""
    beta_token = token_at(client, "/a/beta/login")
    beta_nonce = client.get_cookie(COOKIE_NAME, domain="localhost", path="/a/beta")
    assert beta_nonce is not None
    attacker = client.application.test_client()
    attacker.set_cookie(COOKIE_NAME, beta_nonce.value, domain="localhost", path="/a/acme")
    assert_refused(attacker.post("/a/acme/login", data={**CREDENTIALS, "csrf_token": beta_token}))
    host_form = client.application.test_client()
    host_form.set_cookie(COOKIE_NAME, beta_nonce.value, domain="acme.localhost", path="/")
    assert_refused(host_form.post("/login", base_url="http://acme.localhost",
                                  data={**CREDENTIALS, "csrf_token": beta_token}))


def test_token_signed_for_the_platform_scope_is_refused_at_a_tenant(acme, client: FlaskClient) -> None:
    client.get("/a/acme/login")
    nonce = client.get_cookie(COOKIE_NAME, domain="localhost", path="/a/acme")
    assert nonce is not None
    forged = client.application.extensions["idp.keyring"].sign(f"-platform-|{nonce.value}")
    assert_refused(client.post("/a/acme/login", data={**CREDENTIALS, "csrf_token": forged}))


def test_csrf_cookie_is_httponly_lax_and_tenant_scoped(acme, client: FlaskClient) -> None:
    fresh = client.application.test_client()
    response = fresh.get("/a/acme/login")
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE_NAME + "=")]
    assert headers, "the sign-in page sets the CSRF cookie"
    header = headers[0]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/a/acme" in header


def test_valid_token_works(acme, client: FlaskClient) -> None:
    assert sign_in(client).status_code == 303
    assert is_signed_in(client)


def test_old_token_stops_working_after_sign_in(acme, client: FlaskClient) -> None:
    before = token_at(client, "/a/acme/login")
    assert client.post("/a/acme/login", data={**CREDENTIALS, "csrf_token": before}).status_code == 303
    assert_refused(client.post("/a/acme/logout", data={"csrf_token": before}))
    assert is_signed_in(client)


def test_get_logout_does_not_end_the_session(acme, client: FlaskClient) -> None:
    sign_in(client)
    for _ in range(3):
        page = client.get("/a/acme/logout")
        assert page.status_code == 200
        assert 'method="post"' in page.get_data(as_text=True)
    assert client.head("/a/acme/logout").status_code == 200
    assert is_signed_in(client), "GET never changes state"


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_post_logout_without_a_valid_token_does_not_end_the_session(
    acme, client: FlaskClient, token: str | None
) -> None:
    sign_in(client)
    data = {} if token is None else {"csrf_token": token}
    assert_refused(client.post("/a/acme/logout", data=data))
    assert is_signed_in(client)


def test_logout_token_of_another_tenant_is_refused(acme, client: FlaskClient) -> None:
    sign_in(client, prefix="/a/acme")
    sign_in(client, prefix="/a/beta")
    beta_token = token_at(client, "/a/beta/logout")
    assert_refused(client.post("/a/acme/logout", data={"csrf_token": beta_token}))
    assert is_signed_in(client, "/a/acme")


def test_post_logout_with_a_valid_token_ends_the_session(acme, client: FlaskClient) -> None:
    sign_in(client)
    token = token_at(client, "/a/acme/logout")
    assert client.post("/a/acme/logout", data={"csrf_token": token}).status_code == 303
    assert not is_signed_in(client)


def test_token_in_the_query_string_does_not_count(acme, client: FlaskClient) -> None:
    token = token_at(client, "/a/acme/login")
    response = client.post("/a/acme/login", query_string={"csrf_token": token}, data=CREDENTIALS)
    assert_refused(response)


# Endpoints that no form of ours posts to: protocol endpoints authenticated by client credentials
# or bearer tokens, and the two a relying party may POST to (authorization, OIDC Core §3.1.2.1,
# and end-session, which only shows a confirmation page). A new exemption is added here on purpose.
EXEMPT = {
    "oauth.authorize", "oauth.end_session", "oauth.token", "oauth.userinfo", "oauth.revoke",
    "oauth.introspect", "oauth.register_client_endpoint", "oauth.manage_client",
    "api.send_password_reset", "api.create_person", "api.update_person", "api.remove_second_factor", "api.put_business",
    "api.put_location", "api.create_connection", "api.delete_connection",
    # families: staff (client_credentials) and the guardian's own access token, both bearer-authenticated
    "api.revoke_member", "api.set_primary", "api.my_invitation", "api.my_invitation_cancelled",
    "api.my_member_removed",
    "federation.saml_acs",  # the IdP's auto-posted form: cross-site by nature, bound by RelayState to the trip
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _unsafe_rules(app):  # type: ignore[no-untyped-def]
    for rule in app.url_map.iter_rules():
        for method in sorted(UNSAFE & (rule.methods or set())):
            yield rule, method


def _sample_path(rule) -> str:  # type: ignore[no-untyped-def]
    """The rule's path with a plausible value for each variable (an `any` takes its first choice)."""
    values = {}
    for argument, converter in rule._converters.items():
        choices = getattr(converter, "items", None)
        values[argument] = sorted(choices)[0] if choices else "x"
    built = rule.build(values)
    assert built is not None, rule.rule
    return str(built[1])


def test_every_form_endpoint_refuses_a_request_without_a_token(app, client: FlaskClient, acme) -> None:  # type: ignore[no-untyped-def]
    from idp.web.csrf import _EXEMPT_ATTRIBUTE

    sign_in(client)
    exempt = {rule.endpoint for rule, _ in _unsafe_rules(app)
              if getattr(app.view_functions[rule.endpoint], _EXEMPT_ATTRIBUTE, False)}
    assert exempt <= EXEMPT, f"new CSRF exemptions need a reason: {sorted(exempt - EXEMPT)}"
    checked = 0
    for rule, method in _unsafe_rules(app):
        if rule.endpoint in exempt:
            continue
        response = client.open("/a/acme" + _sample_path(rule), method=method,
                               data={"email": "coach@example.com", "password": PASSWORD, "decision": "allow"})
        assert 400 <= response.status_code < 500 and response.status_code not in (401, 404, 405, 429), (
            rule.rule, method, response.status_code)
        assert "did not come from this site" in response.get_data(as_text=True), rule.rule
        checked += 1
    assert checked >= 15, f"the form endpoints were found ({checked})"
    assert is_signed_in(client), "no refused request signed anyone out"
