"""The platform root, account look-up, unknown accounts, the host form, tenant isolation."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, make_tenant, make_user, sign_in


def body(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def test_platform_root_asks_for_the_account_name(app, client: FlaskClient) -> None:
    response = client.get("/")
    html = body(response)
    assert response.status_code == 200
    assert "Type in your account name" in html
    assert 'action="http://localhost/lookup"' in html
    assert 'method="get"' in html
    assert '<label for="account">' in html and 'id="account" name="account"' in html


@pytest.mark.parametrize("typed", ["acme", "ACME", "  acme  ", "Acme"])
def test_lookup_redirects_to_the_tenants_sign_in_page(app, client: FlaskClient, typed: str) -> None:
    make_tenant()
    response = client.get("/lookup", query_string={"account": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/a/acme/login"
    assert client.get(response.headers["Location"]).status_code == 200


def test_tenant_root_redirects_to_its_sign_in_page(app, client: FlaskClient) -> None:
    make_tenant()
    by_path = client.get("/a/acme/")
    assert by_path.status_code == 302 and by_path.headers["Location"].endswith("/a/acme/login")
    by_host = client.get("/", base_url="http://acme.localhost")
    assert by_host.status_code == 302
    assert by_host.headers["Location"] in ("/login", "http://acme.localhost/login")


@pytest.mark.parametrize(
    ("method", "url", "base_url"),
    [
        ("lookup", "/lookup?account=nope", "http://localhost"),
        ("path", "/a/nope/login", "http://localhost"),
        ("path", "/a/nope/", "http://localhost"),
        ("path", "/a/nope", "http://localhost"),
        ("host", "/login", "http://nope.localhost"),
        ("host", "/", "http://nope.localhost"),
    ],
)
def test_unknown_account_gets_a_clear_page_with_the_lookup_form(
    app, client: FlaskClient, method: str, url: str, base_url: str
) -> None:
    make_tenant()
    response = client.get(url, base_url=base_url)
    html = body(response)
    assert response.status_code == 404
    assert "We could not find that account" in html
    assert "<strong>nope</strong>" in html
    assert 'name="account"' in html and "<form" in html
    assert "Traceback" not in html
    assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    ("url", "base_url"),
    [
        ("/lookup?account=nope", "http://localhost"),
        ("/a/nope/login", "http://localhost"),
        ("/login", "http://nope.localhost"),
    ],
)
def test_lookup_form_on_the_unknown_account_page_works(app, client: FlaskClient, url: str, base_url: str) -> None:
    make_tenant()
    html = body(client.get(url, base_url=base_url))
    match = re.search(r'<form method="get" action="([^"]+)"', html)
    assert match
    action = urljoin(base_url + url, match.group(1))
    response = client.get(action, query_string={"account": "acme"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/a/acme/login"


def test_unknown_account_page_on_post_is_a_page_too(app, client: FlaskClient) -> None:
    response = client.post("/a/nope/login", data={"email": "a@b.co", "password": "x"})
    assert response.status_code == 404
    assert "We could not find that account" in body(response)


def test_malformed_account_in_path_is_not_found(app, client: FlaskClient) -> None:
    response = client.get("/a/Not_An_Account/login")
    assert response.status_code == 404
    assert "Traceback" not in body(response)
    assert 'name="account"' in body(response)


@pytest.mark.parametrize(
    ("query", "statuses"),
    [
        ({}, {400}),
        ({"account": ""}, {400}),
        ({"account": "   "}, {400}),
        ({"account": "a"}, {404}),
        ({"account": "Not_An_Account"}, {404}),
        ({"account": "-acme"}, {404}),
        ({"account": "acme!"}, {404}),
        ({"account": "a" * 5000}, {404}),
        ({"account": "../../etc/passwd"}, {404}),
        ({"account": "acme/../admin"}, {404}),
        ({"account": "' OR 1=1 --"}, {404}),
        ({"account": "admin"}, {404}),  # reserved: can never exist
        ({"account": "acme\n"}, {302}),  # trimmed like any typed text
        ({"account": "https://evil.example/"}, {404}),
    ],
)
def test_bad_lookup_input(app, client: FlaskClient, query: dict[str, str], statuses: set[int]) -> None:
    make_tenant()
    response = client.get("/lookup", query_string=query)
    assert response.status_code in statuses
    if response.status_code == 302:
        assert response.headers["Location"] == "http://localhost/a/acme/login"
    else:
        assert 400 <= response.status_code < 500
        assert "Traceback" not in body(response)
        assert 'name="account"' in body(response)


def test_empty_lookup_says_what_to_do_next_to_the_field(app, client: FlaskClient) -> None:
    response = client.get("/lookup?account=")
    html = body(response)
    assert response.status_code == 400
    assert 'aria-describedby="account-error"' in html
    assert 'id="account-error"' in html and "Type in your account name." in html


def test_lookup_never_redirects_off_site(app, client: FlaskClient) -> None:
    make_tenant()
    for typed in ("//evil.example", "acme@evil.example", "acme.evil.example", "http:acme"):
        response = client.get("/lookup", query_string={"account": typed})
        location = response.headers.get("Location", "")
        assert response.status_code == 404 or location.startswith("http://localhost/a/"), (typed, location)


def test_lookup_is_only_at_the_platform_root(app, client: FlaskClient) -> None:
    make_tenant()
    assert client.get("/a/acme/lookup?account=acme").status_code == 404
    assert client.get("/lookup?account=acme", base_url="http://acme.localhost").status_code == 404


def test_tenant_pages_are_not_at_the_platform_root(app, client: FlaskClient) -> None:
    make_tenant()
    response = client.get("/login")
    assert response.status_code == 404
    assert "Traceback" not in body(response)


def test_host_form_sign_in_page(app, client: FlaskClient) -> None:
    make_tenant()
    response = client.get("/login", base_url="http://acme.localhost")
    html = body(response)
    assert response.status_code == 200
    assert "Acme Swim School" in html
    assert 'action="/login"' in html  # tenant-relative: no /a/acme prefix on the host form


def test_host_form_sign_in_works_end_to_end(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant, name="Casey Coach")
    response = sign_in(client, prefix="", base_url="http://acme.localhost")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(("/", "http://acme.localhost/")) and "/a/acme" not in location
    page = client.get("/signed-in", base_url="http://acme.localhost")
    assert page.status_code == 200 and "Casey Coach" in body(page)


def test_host_form_with_port(app, client: FlaskClient) -> None:
    make_tenant()
    response = client.get("/login", base_url="http://acme.localhost:8000")
    assert response.status_code == 200
    assert "Acme Swim School" in body(response)


def test_unknown_host_is_sent_to_the_public_url(app, client: FlaskClient) -> None:
    response = client.get("/login", base_url="http://evil.example")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/"
    post = client.post("/login", base_url="http://evil.example", data={"email": "x"})
    assert post.status_code == 400


def test_forged_host_port_does_not_reach_a_tenant(app, client: FlaskClient) -> None:
    make_tenant()
    response = client.get("/login", headers={"Host": "acme.localhost:1@evil.example"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/"


def test_user_of_one_tenant_cannot_sign_in_at_another(app, client: FlaskClient) -> None:
    acme = make_tenant("acme", "Acme Swim School")
    make_tenant("beta", "Beta Dance")
    make_user(acme, email="coach@example.com")
    at_beta = sign_in(client, prefix="/a/beta")
    assert at_beta.status_code == 401
    assert client.get("/a/beta/signed-in").status_code == 302
    at_beta_host = sign_in(client, prefix="", base_url="http://beta.localhost")
    assert at_beta_host.status_code == 401
    assert sign_in(client, prefix="/a/acme").status_code == 303


def test_same_email_in_two_tenants_signs_in_to_its_own_tenant(app, client: FlaskClient) -> None:
    acme = make_tenant("acme", "Acme Swim School")
    beta = make_tenant("beta", "Beta Dance")
    make_user(acme, name="Acme Casey")
    make_user(beta, name="Beta Casey", password=PASSWORD + " beta")
    assert sign_in(client, prefix="/a/beta").status_code == 401, "acme's password must not open beta"
    assert sign_in(client, prefix="/a/beta", password=PASSWORD + " beta").status_code == 303
    assert "Beta Casey" in body(client.get("/a/beta/signed-in"))
    assert client.get("/a/acme/signed-in").status_code == 302


def test_health_check(app, client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert body(response) == "ok\n"


def test_ready_when_the_database_answers_at_the_head_migration(app, client: FlaskClient) -> None:
    from idp.readiness import head_revision

    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
    assert head_revision() is not None


def test_not_ready_while_the_schema_is_behind(app, client: FlaskClient) -> None:
    from sqlalchemy import text

    from idp.db import db

    with db.engine.begin() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        reason = response.get_json()["reasons"]["migrations"]
        assert "0007" in reason and head in reason and "idp db upgrade" in reason
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_not_ready_without_a_database(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server that does not answer (nothing listens on port 9): 503, the reason, and no URL or secret."""
    from dataclasses import replace

    from idp.app import create_app

    app = create_app(replace(config, database_url="postgresql+psycopg://portcullis:s3cret@127.0.0.1:9/none"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reasons"]["database"].startswith("unreachable")
    assert "s3cret" not in response.get_data(as_text=True) and "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_nodes_probes_answer_whatever_host_is_sent(app, client: FlaskClient, path: str) -> None:
    """A load balancer probes each node by its own address, not the public host."""
    answer = client.get(path, headers={"Host": "10.0.0.7:8000"})
    assert answer.status_code == 200
    assert client.get("/login", headers={"Host": "10.0.0.7:8000"}).status_code == 302, "other paths: to the public URL"


def test_a_probe_with_a_malformed_host_still_answers(app, client: FlaskClient) -> None:
    """Found by the raw-HTTP fuzz: a 300-character Host label made Werkzeug's URL adapter raise."""
    assert client.get("/healthz", headers={"Host": "x" * 300}).status_code == 200
