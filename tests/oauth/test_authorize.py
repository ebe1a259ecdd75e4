"""The authorization endpoint: what is refused, where errors go, and when people are asked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import make_tenant, make_user, sign_in
from tests.oauth.helpers import REDIRECT_URI, authorize, follow_local, get_code, make_rp, pkce, query_of


@pytest.fixture
def rp(app: Flask):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    make_user(tenant, email_verified=True)  # no notices page between sign-in and the code
    return make_rp(tenant)


def _error_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(REDIRECT_URI)
    return query_of(response.headers["Location"])


@pytest.mark.parametrize("params", [
    {"client_id": "no-such-client"},
    {"client_id": None},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": REDIRECT_URI + "/extra"},
    {"redirect_uri": "https://rp.example/callback?x=1"},
])
def test_unknown_client_or_redirect_uri_gets_a_page_never_a_redirect(client: FlaskClient, rp, params) -> None:  # type: ignore[no-untyped-def]
    response = authorize(client, rp, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("params", "raw"), [
    ({"redirect_uri": "\u00e9"}, "\u00e9"),
    ({"redirect_uri": REDIRECT_URI + "\n"}, "callback\n"),
    ({"response_type": "\x01"}, "\x01"),
    ({"response_type": "code\u2028"}, "\u2028"),
    ({"client_id": "\u00e9\u00e9"}, "\u00e9\u00e9"),
])
def test_characters_outside_a_parameters_grammar_get_a_page_that_does_not_repeat_them(
        client: FlaskClient, rp, params, raw) -> None:  # type: ignore[no-untyped-def]
    """Known case 1 of the hardening issue: these were 500s (Authlib refuses error descriptions
    built from the raw value). The redirect URI is not verified, so a page, not a redirect."""
    response = authorize(client, rp, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "holds characters it may not contain" in page and raw not in page


def test_errors_after_the_checks_redirect_with_iss_and_state(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    query = _error_of(authorize(client, rp, response_type="token"))
    assert query["error"] == "unsupported_response_type"
    assert query["iss"] == rp.issuer and query["state"] == "st-1"


def test_prompt_none_without_a_session_is_login_required(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    query = _error_of(authorize(client, rp, prompt="none"))
    assert query == {"error": "login_required", "state": "st-1", "iss": rp.issuer}


def test_prompt_none_with_a_session_issues_a_code(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    get_code(client, rp)
    _, challenge = pkce()
    response = authorize(client, rp, prompt="none", code_challenge=challenge, code_challenge_method="S256")
    assert "code" in _error_of(response)


def test_plain_pkce_is_refused(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    query = _error_of(authorize(client, rp, code_challenge="a" * 43, code_challenge_method="plain"))
    assert query["error"] == "invalid_request"


def test_public_client_must_send_a_code_challenge(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    native = make_rp(tenant, public=True, redirect_uris=["http://127.0.0.1/cb"])
    response = client.get("/a/acme/authorize", query_string={
        "response_type": "code", "client_id": native.client_id, "redirect_uri": "http://127.0.0.1:51004/cb",
        "scope": "openid", "state": "s"})
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "invalid_request" and query["iss"] == native.issuer
    assert response.headers["Location"].startswith("http://127.0.0.1:51004/cb")


def test_native_loopback_redirect_matches_any_port_but_not_another_path(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    native = make_rp(tenant, public=True, redirect_uris=["http://127.0.0.1/cb"])
    _, challenge = pkce()
    base = {"response_type": "code", "client_id": native.client_id, "scope": "openid", "state": "s",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    ok = client.get("/a/acme/authorize", query_string=base | {"redirect_uri": "http://127.0.0.1:49152/cb"})
    assert ok.status_code == 303  # on to sign in
    bad = client.get("/a/acme/authorize", query_string=base | {"redirect_uri": "http://127.0.0.1:49152/other"})
    assert bad.status_code == 400 and "Location" not in bad.headers


def test_prompt_login_asks_again_even_with_a_session(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    get_code(client, rp)
    response = authorize(client, rp, prompt="login", code_challenge=pkce()[1], code_challenge_method="S256")
    assert response.status_code == 303 and "/login?request=" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "Staff sign in" in page.get_data(as_text=True)


def test_max_age_exceeded_asks_again(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    get_code(client, rp)
    app.extensions["idp.clock"].advance(timedelta(minutes=10))
    response = authorize(client, rp, max_age="300", code_challenge=pkce()[1], code_challenge_method="S256")
    assert response.status_code == 303 and "/login?request=" in response.headers["Location"]
    within = authorize(client, rp, max_age="3600", code_challenge=pkce()[1], code_challenge_method="S256")
    assert within.status_code == 302 and "code=" in within.headers["Location"]


def test_unknown_and_extra_parameters_are_ignored_and_post_works(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    get_code(client, rp)
    _, challenge = pkce()
    response = client.post("/a/acme/authorize", data={
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "s2", "code_challenge": challenge, "code_challenge_method": "S256", "frobnicate": "yes",
        "ui_locales": "de", "acr_values": "urn:portcullis:acr:password", "login_hint": "coach@example.com"})
    query = _error_of(response)
    assert "code" in query and query["state"] == "s2"


def test_third_party_client_asks_for_consent_once(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    third = make_rp(tenant, first_party=False)
    response = authorize(client, third, code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(response.headers["Location"])["request"]
    signed = sign_in(client, third.prefix, query_string={"request": request_id}, extra_form={"request": request_id})
    page = follow_local(client, signed)
    assert page.status_code == 200 and "Allow Office Portal?" in page.get_data(as_text=True)
    # prompt=none cannot show the page
    silent = authorize(client, third, prompt="none", code_challenge=pkce()[1], code_challenge_method="S256")
    assert _error_of(silent)["error"] == "consent_required"
    from tests.helpers import csrf_from

    allowed = client.post(f"/a/acme/authorize/consent/{request_id}",
                          data={"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "allow"})
    assert allowed.status_code == 303
    done = client.get(allowed.headers["Location"])
    assert "code" in _error_of(done)
    again = authorize(client, third, code_challenge=pkce()[1], code_challenge_method="S256")
    assert "code" in _error_of(again)  # no second consent page for the same scopes


def test_denied_consent_returns_access_denied(app: Flask, client: FlaskClient) -> None:
    from tests.helpers import csrf_from

    tenant = make_tenant()
    make_user(tenant)
    third = make_rp(tenant, first_party=False)
    response = authorize(client, third, code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(response.headers["Location"])["request"]
    signed = sign_in(client, third.prefix, query_string={"request": request_id}, extra_form={"request": request_id})
    page = follow_local(client, signed)
    denied = client.post(f"/a/acme/authorize/consent/{request_id}",
                         data={"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": "deny"})
    query = _error_of(denied)
    assert query["error"] == "access_denied" and query["iss"] == third.issuer


def test_consent_post_needs_csrf(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    third = make_rp(tenant, first_party=False)
    response = authorize(client, third, code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(response.headers["Location"])["request"]
    sign_in(client, third.prefix, query_string={"request": request_id}, extra_form={"request": request_id})
    forged = client.post(f"/a/acme/authorize/consent/{request_id}", data={"decision": "allow"})
    assert forged.status_code == 400


def test_expired_or_unknown_pending_request_gets_a_page(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    response = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(response.headers["Location"])["request"]
    app.extensions["idp.clock"].advance(timedelta(hours=1))
    assert client.get(f"/a/acme/authorize/continue/{request_id}").status_code == 400
    assert client.get("/a/acme/authorize/continue/not-a-request").status_code == 400


@pytest.mark.parametrize("max_age", ["abc", "-1", "\u00b2", "\u0663", "1\u00b2", "12345678901", " 60", "60\n"])
def test_malformed_max_age_is_invalid_request(client: FlaskClient, rp, max_age: str) -> None:  # type: ignore[no-untyped-def]
    get_code(client, rp)  # signed in: the decision reaches the max_age comparison
    query = _error_of(authorize(client, rp, max_age=max_age, code_challenge=pkce()[1], code_challenge_method="S256"))
    assert query["error"] == "invalid_request"


class _AlwaysStep:
    """A pipeline step that is needed until the test says otherwise."""

    name = "test-step"
    blocking = True

    def __init__(self) -> None:
        self.done = False

    def needed(self, ctx) -> bool:  # type: ignore[no-untyped-def]
        return not self.done

    def url(self, ctx) -> str:  # type: ignore[no-untyped-def]
        return f"/a/acme/test-step?request={ctx.request_id}"


def test_no_code_while_a_pipeline_step_is_needed(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    from idp.oauth import interactions

    step = _AlwaysStep()
    interactions.init_app(app, [step])
    response = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(response.headers["Location"])["request"]
    signed = sign_in(client, rp.prefix, query_string={"request": request_id}, extra_form={"request": request_id})
    assert signed.headers["Location"] == f"/a/acme/test-step?request={request_id}", "the password leads to the step"
    # skipping the step by going straight to the authorization endpoint does not help
    skipped = client.get(f"/a/acme/authorize/continue/{request_id}")
    assert skipped.headers["Location"] == f"/a/acme/test-step?request={request_id}"
    step.done = True
    done = client.get(f"/a/acme/authorize/continue/{request_id}")
    assert "code" in _error_of(done)


def test_an_expired_own_id_token_hint_still_names_the_person(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    from tests.oauth.helpers import exchange

    code, verifier = get_code(client, rp)
    own_hint = exchange(client, rp, code, verifier).get_json()["id_token"]
    app.extensions["idp.clock"].advance(timedelta(hours=2))  # the hint has expired; it still names the person
    sign_in(client)  # a fresh session after the long pause
    own = authorize(client, rp, id_token_hint=own_hint, code_challenge=pkce()[1], code_challenge_method="S256")
    assert "code" in _error_of(own)


def test_id_token_hint_of_someone_else_asks_to_sign_in(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    from idp.tenancy.service import get_tenant
    from tests.oauth.helpers import exchange

    make_user(get_tenant("acme"), email="other@example.com")
    other_browser = app.test_client()
    sign_in(other_browser, email="other@example.com")
    code, verifier = get_code(other_browser, rp, signed_in=True)
    other_hint = exchange(other_browser, rp, code, verifier).get_json()["id_token"]
    get_code(client, rp)  # the coach is signed in here
    asked = authorize(client, rp, id_token_hint=other_hint, code_challenge=pkce()[1], code_challenge_method="S256")
    assert asked.status_code == 303 and "/login?request=" in asked.headers["Location"]
    silent = authorize(client, rp, prompt="none", id_token_hint=other_hint, code_challenge=pkce()[1],
                       code_challenge_method="S256")
    assert _error_of(silent)["error"] == "login_required"


def test_prompt_none_with_a_pipeline_step_pending_is_interaction_required(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    """OIDC Core §3.1.2.1: prompt=none must not display any page, so no redirect to the step either."""
    from idp.oauth import interactions

    get_code(client, rp)
    interactions.init_app(app, [_AlwaysStep()])
    silent = authorize(client, rp, prompt="none", code_challenge=pkce()[1], code_challenge_method="S256")
    assert _error_of(silent) == {"error": "interaction_required", "state": "st-1", "iss": rp.issuer}


def test_prompt_none_after_new_terms_is_interaction_required(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    from idp.db import db
    from idp.policies.service import publish

    get_code(client, rp)
    publish("terms", "2027-01", "https://example.com/terms/2027-01")
    db.session.commit()
    silent = authorize(client, rp, prompt="none", code_challenge=pkce()[1], code_challenge_method="S256")
    assert _error_of(silent) == {"error": "interaction_required", "state": "st-1", "iss": rp.issuer}
    asked = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    assert asked.status_code == 302 and "/policies" in asked.headers["Location"], "without prompt=none: the page"


def test_prompt_none_asking_for_a_step_up_is_interaction_required(app: Flask, client: FlaskClient) -> None:
    from idp.oauth.discovery import ACR_MFA

    tenant = make_tenant(second_factor_policy="optional")
    make_user(tenant, email_verified=True)
    rp = make_rp(tenant)
    get_code(client, rp)  # signed in with a password only
    silent = authorize(client, rp, prompt="none", acr_values=ACR_MFA, code_challenge=pkce()[1],
                       code_challenge_method="S256")
    assert _error_of(silent) == {"error": "interaction_required", "state": "st-1", "iss": rp.issuer}


def test_an_openid_request_without_redirect_uri_gets_a_page(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    """OIDC Core §3.1.2.1: redirect_uri is REQUIRED, even when the client registered only one."""
    get_code(client, rp)
    response = authorize(client, rp, redirect_uri=None, code_challenge=pkce()[1], code_challenge_method="S256")
    assert response.status_code == 400 and "Location" not in response.headers
    assert "redirect_uri" in response.get_data(as_text=True)


def test_plain_oauth_may_use_the_one_registered_uri_and_exchange_without_it(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §3.1.2.3 and §4.1.3: redirect_uri at the token endpoint is required only if the
    authorization request had one; one sent anyway must be where the code went."""
    get_code(client, rp)
    outcomes = {}
    for sent in (None, REDIRECT_URI, "https://rp.example/other"):
        verifier, challenge = pkce()
        response = authorize(client, rp, scope="profile", redirect_uri=None, nonce=None, code_challenge=challenge,
                             code_challenge_method="S256")
        assert response.status_code == 302 and response.headers["Location"].startswith(REDIRECT_URI + "?")
        code = query_of(response.headers["Location"])["code"]
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        outcomes[sent] = client.post(f"{rp.prefix}/token", headers=rp.basic,
                                     data=form if sent is None else form | {"redirect_uri": sent})
    assert outcomes[None].status_code == 200, outcomes[None].get_json()
    assert "id_token" not in outcomes[None].get_json() and outcomes[None].get_json()["scope"] == "profile"
    assert outcomes[REDIRECT_URI].status_code == 200
    assert outcomes["https://rp.example/other"].get_json()["error"] == "invalid_grant"
    # with redirect_uri in the authorization request, the token request must repeat it
    code, verifier = get_code(client, rp, signed_in=True)
    missing = client.post(f"{rp.prefix}/token", headers=rp.basic, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier})
    assert missing.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("param", "error"), [
    ("request", "request_not_supported"),
    ("request_uri", "request_uri_not_supported"),
])
def test_request_objects_are_refused_not_ignored(client: FlaskClient, rp, param: str, error: str) -> None:  # type: ignore[no-untyped-def]
    """OIDC Core §6: discovery says request objects are not supported; the client hears so."""
    value = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9." if param == "request" else "https://rp.example/r/1"
    query = _error_of(authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256", **{param: value}))
    assert (query["error"], query["state"], query["iss"]) == (error, "st-1", rp.issuer) and "code" not in query
    # before the client and redirect URI are known good, still a page
    page = authorize(client, rp, redirect_uri="https://evil.example/cb", **{param: value})
    assert page.status_code == 400 and "Location" not in page.headers


def _sign_in_page(client: FlaskClient, rp, **params: str) -> str:  # type: ignore[no-untyped-def]
    response = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256", **params)
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


def _email_value(page: str) -> str:
    import html
    import re

    match = re.search(r'<input id="email"[^>]*value="([^"]*)"', page)
    assert match, "no email field"
    return html.unescape(match.group(1))


def test_login_hint_prefills_the_email_field(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    assert _email_value(_sign_in_page(client, rp, login_hint="Coach@Example.com")) == "Coach@Example.com"
    assert _email_value(_sign_in_page(client, rp)) == ""


def test_login_hint_never_tells_whether_the_account_exists(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    import re

    def without_secrets(page: str) -> str:
        page = re.sub(r'value="[^"]*"', 'value=""', page)
        return re.sub(r"[A-Za-z0-9_-]{20,}", "ID", page)  # CSRF token and request id

    known = _sign_in_page(client, rp, login_hint="coach@example.com")
    unknown = _sign_in_page(client, rp, login_hint="nobody@example.com")
    assert _email_value(unknown) == "nobody@example.com"
    assert without_secrets(known) == without_secrets(unknown)


@pytest.mark.parametrize("hint", ['"><script>alert(1)</script>', "x" * 255 + "@example.com"])
def test_a_hostile_or_overlong_login_hint_is_escaped_or_dropped(client: FlaskClient, rp, hint: str) -> None:  # type: ignore[no-untyped-def]
    page = _sign_in_page(client, rp, login_hint=hint)
    assert "<script>alert(1)" not in page
    assert _email_value(page) in (hint, "")
    if len(hint) > 254:  # a NUL is refused before any view (tests/web/test_inputs.py)
        assert _email_value(page) == ""


def _id_token_claims(client: FlaskClient, rp, code: str, verifier: str | None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    from joserfc import jwt
    from joserfc.jwk import KeySet

    from tests.oauth.helpers import exchange

    id_token = exchange(client, rp, code, verifier).get_json()["id_token"]
    keys = KeySet.import_key_set(client.get(f"{rp.prefix}/jwks").get_json())
    return dict(jwt.decode(id_token, keys, algorithms=["RS256", "ES256"]).claims)


@pytest.mark.parametrize("forcing", [{"max_age": "300"}, {"prompt": "login"}])
def test_auth_time_moves_on_after_a_forced_re_authentication(app: Flask, client: FlaskClient, rp,  # type: ignore[no-untyped-def]
                                                             forcing: dict[str, str]) -> None:
    """OIDC Core §2: auth_time is when the person last authenticated; a re-authentication
    forced by max_age or prompt=login must show in the ID token."""
    clock = app.extensions["idp.clock"]
    first = _id_token_claims(client, rp, *get_code(client, rp))
    assert abs(first["auth_time"] - clock.now().timestamp()) < 5
    clock.advance(timedelta(minutes=10))
    without = _id_token_claims(client, rp, *get_code(client, rp, signed_in=True))
    assert without["auth_time"] == first["auth_time"], "no re-authentication, same auth_time"
    forced = _id_token_claims(client, rp, *get_code(client, rp, **forcing))  # asks for the password again
    assert forced["auth_time"] >= first["auth_time"] + 600
    assert abs(forced["auth_time"] - clock.now().timestamp()) < 5


def test_prompt_none_skips_notices_that_do_not_block(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    """A notice (here: unverified email) is shown at the next interactive sign-in, not instead
    of a silent answer: prompt=none still gets its code."""
    from idp.accounts.service import find_user_by_email
    from idp.db import db
    from idp.tenancy.service import get_tenant

    get_code(client, rp)
    user = find_user_by_email(get_tenant("acme"), "staff", "coach@example.com")
    assert user is not None
    user.email_verified = False  # a notice now applies that this session has not seen
    db.session.commit()
    silent = authorize(client, rp, prompt="none", code_challenge=pkce()[1], code_challenge_method="S256")
    assert "code" in _error_of(silent)
    asked = authorize(client, rp, code_challenge=pkce()[1], code_challenge_method="S256")
    assert asked.status_code == 302 and "/notices" in asked.headers["Location"]


def test_a_code_sent_to_the_default_uri_is_not_matched_against_a_guess(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    """If the client registered more URIs after the code went to its single one, a redirect_uri
    at the token endpoint can no longer be checked: refused, never waved through."""
    from idp.db import db
    from idp.oauth.clients import find_client
    from idp.tenancy.service import get_tenant

    get_code(client, rp)
    verifier, challenge = pkce()
    response = authorize(client, rp, scope="profile", redirect_uri=None, nonce=None, code_challenge=challenge,
                         code_challenge_method="S256")
    code = query_of(response.headers["Location"])["code"]
    row = find_client(get_tenant("acme"), rp.client_id)
    assert row is not None
    row.client_metadata = row.client_metadata | {"redirect_uris": [REDIRECT_URI, "https://rp.example/second"]}
    db.session.commit()
    exchanged = client.post(f"{rp.prefix}/token", headers=rp.basic, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": "https://rp.example/second"})
    assert exchanged.get_json()["error"] == "invalid_grant"
