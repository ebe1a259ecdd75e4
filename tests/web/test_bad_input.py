"""Hostile and broken input on every form (sign in, log out, account look-up): a 4xx page or a normal
answer, never a 500, never a stack trace, never input echoed unescaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in

MB = 1024 * 1024
XSS = "<script>alert(1)</script>"
SQL = "' OR '1'='1' --"


@pytest.fixture
def tenant(app: Flask) -> None:
    make_user(make_tenant())


def token(client: FlaskClient, url: str = "/a/acme/login") -> str:
    return csrf_from(client.get(url, follow_redirects=True).get_data(as_text=True))


def assert_safe(response, allowed: set[int] | None = None) -> str:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    assert response.status_code < 500, html[:500]
    if allowed is not None:
        assert response.status_code in allowed, (response.status_code, html[:300])
    assert "Traceback" not in html
    assert 'File "' not in html
    assert XSS not in html
    assert "<script" not in html.lower()
    return html


# -- sign in --------------------------------------------------------------------------------------

# name -> (form builder given a valid CSRF token, allowed statuses)
FormCase = tuple[Callable[[str], Any], set[int]]
SIGN_IN_CASES: dict[str, FormCase] = {
    "empty fields": (lambda t: {"csrf_token": t, "email": "", "password": ""}, {400}),
    "missing fields": (lambda t: {"csrf_token": t}, {400}),
    "blank email": (lambda t: {"csrf_token": t, "email": "   ", "password": PASSWORD}, {400}),
    "blank password": (lambda t: {"csrf_token": t, "email": "coach@example.com", "password": ""}, {400}),
    "whitespace password": (lambda t: {"csrf_token": t, "email": "coach@example.com", "password": "   "}, {401}),
    "overlong email": (lambda t: {"csrf_token": t, "email": "a" * 300 + "@example.com", "password": "x"}, {400}),
    "overlong password": (lambda t: {"csrf_token": t, "email": "coach@example.com", "password": "x" * 2000}, {400}),
    "sql in email": (lambda t: {"csrf_token": t, "email": SQL, "password": SQL}, {401}),
    "sql with wildcard": (lambda t: {"csrf_token": t, "email": "%@%", "password": "x"}, {401}),
    "script in email": (lambda t: {"csrf_token": t, "email": XSS, "password": "x"}, {401}),
    "script in password": (lambda t: {"csrf_token": t, "email": "coach@example.com", "password": XSS}, {401}),
    "attribute breakout": (lambda t: {"csrf_token": t, "email": '" autofocus onfocus="alert(1)', "password": "x"},
                           {401}),
    # A NUL is refused before any view (idp/web/inputs.py): no field means one.
    "nul in email": (lambda t: {"csrf_token": t, "email": "coach@example.com\x00", "password": PASSWORD}, {400}),
    "nul in password": (lambda t: {"csrf_token": t, "email": "coach@example.com", "password": "a\x00b"}, {400}),
    "control characters": (lambda t: {"csrf_token": t, "email": "\x1b[31m\x07@x.co", "password": "\r\n"}, {401}),
    "unicode": (lambda t: {"csrf_token": t, "email": "ünïcödé@例え.jp", "password": "пароль-密码-🔑"}, {401}),
    "lone surrogate-like text": (lambda t: {"csrf_token": t, "email": "\ufffd@x.co", "password": "\ufffd"}, {401}),
    "repeated fields": (lambda t: MultiDict([("csrf_token", t), ("email", "coach@example.com"),
                                             ("email", "other@example.com"), ("password", "x"),
                                             ("password", PASSWORD)]), {401}),
    "repeated stay logged in": (lambda t: MultiDict([("csrf_token", t), ("email", "x@y.co"), ("password", "x"),
                                                     ("stay_logged_in", "on"), ("stay_logged_in", "off")]), {401}),
    "list-style names": (lambda t: {"csrf_token": t, "email[]": "coach@example.com", "password[]": PASSWORD},
                         {400}),
    "unexpected fields": (lambda t: {"csrf_token": t, "email": "x@y.co", "password": "x", "is_admin": "1",
                                     "tenant": "beta", "user_id": "1"}, {401}),
}


@pytest.mark.parametrize("case", list(SIGN_IN_CASES))
def test_sign_in_form_bad_input(tenant, client: FlaskClient, case: str) -> None:
    build, allowed = SIGN_IN_CASES[case]
    response = client.post("/a/acme/login", data=build(token(client)))
    assert_safe(response, allowed)
    assert client.get("/a/acme/signed-in").status_code == 302


def test_script_and_sql_are_echoed_escaped(tenant, client: FlaskClient) -> None:
    for typed, escaped in ((XSS, "&lt;script&gt;alert(1)&lt;/script&gt;"), (SQL, "&#39; OR &#39;1&#39;=&#39;1&#39; --"),
                           ('" onfocus="x', "&#34; onfocus=&#34;x")):
        response = client.post("/a/acme/login", data={"csrf_token": token(client), "email": typed, "password": "x"})
        html = assert_safe(response, {401})
        assert escaped in html
        assert typed not in html


def test_password_is_never_echoed(tenant, client: FlaskClient) -> None:
    secret = "my-secret-password-123"
    response = client.post("/a/acme/login", data={"csrf_token": token(client), "email": "", "password": secret})
    assert secret not in assert_safe(response, {400})
    response = client.post("/a/acme/login", data={"csrf_token": token(client), "email": "x@y.co", "password": secret})
    assert secret not in assert_safe(response, {401})


def test_first_of_repeated_fields_is_the_one_used(tenant, client: FlaskClient) -> None:
    data = MultiDict([("csrf_token", token(client)), ("email", "coach@example.com"), ("email", "x@y.co"),
                      ("password", PASSWORD), ("password", "wrong")])
    assert client.post("/a/acme/login", data=data).status_code == 303


def test_multipart_form_works_like_a_urlencoded_one(tenant, client: FlaskClient) -> None:
    data = {"csrf_token": token(client), "email": "coach@example.com", "password": PASSWORD}
    assert client.post("/a/acme/login", data=data, content_type="multipart/form-data").status_code == 303


def test_uploaded_file_in_place_of_a_field(tenant, client: FlaskClient) -> None:
    import io

    data = {"csrf_token": token(client), "email": (io.BytesIO(b"coach@example.com"), "email.txt"), "password": "x"}
    assert_safe(client.post("/a/acme/login", data=data, content_type="multipart/form-data"), {400})


# -- raw bodies: size, encoding, content type -----------------------------------------------------


def raw_post(client: FlaskClient, url: str, body: bytes, content_type: str):  # type: ignore[no-untyped-def]
    return client.post(url, data=body, content_type=content_type)


@pytest.mark.parametrize("url", ["/a/acme/login", "/a/acme/logout"])
def test_one_megabyte_body_is_too_large(tenant, client: FlaskClient, url: str) -> None:
    t = token(client)
    body = f"csrf_token={t}&email=coach%40example.com&password=".encode() + b"x" * MB
    html = assert_safe(raw_post(client, url, body, "application/x-www-form-urlencoded"), {413})
    assert "too large" in html


@pytest.mark.parametrize("url", ["/a/acme/login", "/a/acme/logout"])
def test_one_megabyte_multipart_body_is_too_large(tenant, client: FlaskClient, url: str) -> None:
    data = {"csrf_token": token(client), "email": "x" * MB, "password": "x"}
    assert_safe(client.post(url, data=data, content_type="multipart/form-data"), {413})


def test_one_megabyte_query_string_on_lookup(tenant, client: FlaskClient) -> None:
    response = client.get("/lookup", query_string={"account": "a" * MB})
    assert_safe(response, {404, 413, 414, 431})


@pytest.mark.parametrize(
    "body",
    [
        b"email=%ff%fe%fd&password=%c3%28",  # percent-encoded invalid UTF-8
        b"email=\xff\xfe\xfd@x.co&password=\xc3\x28",  # raw invalid UTF-8
        b"email=%ed%a0%80@x.co&password=x",  # an encoded surrogate
        b"email=coach%40example.com%00&password=x",
        b"email=%&password=%zz",  # broken percent escapes
        b"&&&==&email&password",
        b"\x00\x01\x02",
    ],
)
@pytest.mark.parametrize("url", ["/a/acme/login", "/a/acme/logout"])
def test_non_utf8_and_malformed_bodies(tenant, client: FlaskClient, url: str, body: bytes) -> None:
    t = token(client).encode()
    response = raw_post(client, url, b"csrf_token=" + t + b"&" + body, "application/x-www-form-urlencoded")
    assert_safe(response, {303, 400, 401})


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"email": "coach@example.com", "password": "correct horse battery"}'),
        ("text/plain", b"email=coach@example.com&password=correct horse battery"),
        ("application/xml", b"<login><email>coach@example.com</email></login>"),
        ("multipart/form-data", b"not really multipart"),
        ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
        ("application/x-www-form-urlencoded; charset=latin-1", b"email=caf\xe9@x.co&password=x"),
        ("", b"email=coach@example.com"),
    ],
)
@pytest.mark.parametrize("url", ["/a/acme/login", "/a/acme/logout"])
def test_wrong_content_types_are_refused(tenant, client: FlaskClient, url: str, content_type: str,
                                         body: bytes) -> None:
    token(client)
    response = raw_post(client, url, body, content_type)
    assert_safe(response, {400, 415})
    assert client.get("/a/acme/signed-in").status_code == 302


def test_json_body_with_a_valid_token_does_not_sign_in(tenant, client: FlaskClient) -> None:
    import json

    body = json.dumps({"csrf_token": token(client), "email": "coach@example.com", "password": PASSWORD}).encode()
    assert_safe(raw_post(client, "/a/acme/login", body, "application/json"), {400, 415})
    assert client.get("/a/acme/signed-in").status_code == 302


# -- log out --------------------------------------------------------------------------------------


LOGOUT_CASES: dict[str, FormCase] = {
    "no token": (lambda t: {}, {400}),
    "token only": (lambda t: {"csrf_token": t}, {303}),
    "repeated token": (lambda t: MultiDict([("csrf_token", t), ("csrf_token", "forged")]), {303}),
    "forged first": (lambda t: MultiDict([("csrf_token", "forged"), ("csrf_token", t)]), {400}),
    "script": (lambda t: {"csrf_token": XSS}, {400}),
    "extra junk": (lambda t: {"csrf_token": t, "next": "https://evil.example/", "session": "x"}, {303}),
}


@pytest.mark.parametrize("case", list(LOGOUT_CASES))
def test_log_out_form_bad_input(tenant, client: FlaskClient, case: str) -> None:
    sign_in(client)
    build, allowed = LOGOUT_CASES[case]
    response = client.post("/a/acme/logout", data=build(token(client, "/a/acme/logout")))
    assert_safe(response, allowed)
    if response.status_code == 303:
        assert response.headers["Location"].endswith("/a/acme/signed-out"), "never an open redirect"


def test_log_out_when_not_signed_in_is_harmless(tenant, client: FlaskClient) -> None:
    response = client.post("/a/acme/logout", data={"csrf_token": token(client)})
    assert_safe(response, {303})


# -- account look-up (a GET form at the platform root) --------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"account",
        b"account=",
        b"account=%20%20",
        b"account=" + XSS.encode(),
        b"account=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        b"account=" + SQL.replace(" ", "+").encode(),
        b"account=%ff%fe",
        b"account=\xff\xfe",
        b"account=%00",
        b"account=acme%00",
        b"account=acme&account=beta",
        b"account[]=acme",
        b"account=" + b"a" * 10000,
        b"account=%",
        b"account=..%2F..%2Fetc",
        b"account=ACME%0D%0ALocation:%20https://evil.example",
    ],
)
def test_lookup_bad_input(tenant, client: FlaskClient, query: bytes) -> None:
    response = client.get("/lookup?" + query.decode("latin-1"))
    assert_safe(response, {302, 400, 404})
    if response.status_code == 302:
        assert response.headers["Location"] == "http://localhost/a/acme/login"


def test_lookup_echoes_the_typed_name_escaped(tenant, client: FlaskClient) -> None:
    response = client.get("/lookup", query_string={"account": "<b>x</b>"})
    html = assert_safe(response, {404})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_lookup_refuses_post(tenant, client: FlaskClient) -> None:
    assert_safe(client.post("/lookup", data={"account": "acme"}), {400, 405})


# -- odd requests around the forms ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("url", ["/a/acme/login", "/a/acme/logout", "/lookup", "/"])
def test_other_methods_get_a_page(tenant, client: FlaskClient, method: str, url: str) -> None:
    assert_safe(client.open(url, method=method), {400, 405})


@pytest.mark.parametrize(
    "url",
    ["/a/acme/login%00", "/a/acme%00/login", "/a/%ff/login", "/a/acme/%ff", "/a/acme\n/login", "/a/acme/../beta/login",
     "/a/" + "a" * 5000, "/%2e%2e/%2e%2e/etc/passwd"],
)
def test_odd_paths(tenant, client: FlaskClient, url: str) -> None:
    assert_safe(client.get(url), {200, 302, 308, 400, 404})


@pytest.mark.parametrize(
    "cookie",
    ["portcullis_session=" + "x" * 3000, "portcullis_csrf=" + "y" * 3000, "portcullis_session=%ff%00",
     "portcullis_csrf=\"unterminated", "portcullis_session=a; portcullis_session=b"],
)
def test_odd_cookies(tenant, client: FlaskClient, cookie: str) -> None:
    response = client.get("/a/acme/login", headers={"Cookie": cookie})
    assert_safe(response, {200})
    data = {"email": "coach@example.com", "password": PASSWORD, "csrf_token": "x"}
    assert_safe(client.post("/a/acme/login", headers={"Cookie": cookie}, data=data), {400})


def test_unexpected_errors_are_a_page_without_a_traceback(config) -> None:  # type: ignore[no-untyped-def]
    from idp.app import create_app

    app = create_app(config, TESTING=True)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    with app.app_context():
        response = app.test_client().get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "secret internals" not in html and "Traceback" not in html and "RuntimeError" not in html
    assert response.headers["Content-Security-Policy"]


def test_unexpected_errors_on_the_api_are_json_without_detail(app: Flask, client: FlaskClient,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from idp.recovery import service as recovery
    from tests.oauth.helpers import make_rp

    tenant = make_tenant()
    portal = make_rp(tenant, grant_types=["client_credentials"], scope="users:write", redirect_uris=[])
    token = client.post("/a/acme/token", data={"grant_type": "client_credentials", "scope": "users:write"},
                        headers=portal.basic).get_json()["access_token"]

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(recovery, "staff_sent_reset", broken)
    response = client.post("/a/acme/api/v1/users/password-reset", json={"email": "coach@example.com"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": "server_error"}
