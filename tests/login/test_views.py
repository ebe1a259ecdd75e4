from flask.testing import FlaskClient

from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in


def test_sign_in_page_shows_tenant_and_unticked_stay_logged_in(app, client: FlaskClient) -> None:
    make_tenant()
    page = client.get("/a/acme/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Acme Swim School" in html
    assert 'name="stay_logged_in"' in html
    assert "checked" not in html.split('name="stay_logged_in"')[1].split(">")[0]
    assert 'id="forgot-password"' in html


def test_sign_in_with_email_starts_session(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant, name="Casey Coach", email_verified=True)  # no notices page
    response = sign_in(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/a/acme/continue")  # the sign-in pipeline
    landing = client.get(response.headers["Location"])
    assert landing.headers["Location"].endswith("/a/acme/signed-in")
    page = client.get("/a/acme/signed-in")
    assert "Casey Coach" in page.get_data(as_text=True)


def test_wrong_password_and_unknown_email_get_the_same_answer(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    wrong = sign_in(client, password="not the password at all")
    unknown = sign_in(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: r.get_data(as_text=True).replace("nobody@example.com", "coach@example.com")  # noqa: E731
    assert csrf_free(strip(wrong)) == csrf_free(strip(unknown))


def csrf_free(html: str) -> str:
    token = csrf_from(html)
    return html.replace(token, "")


def test_sign_in_by_legacy_username(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant, username="Casey")
    assert sign_in(client, email="casey").status_code == 303


def test_post_without_csrf_token_is_refused(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    client.get("/a/acme/login")
    response = client.post("/a/acme/login", data={"email": "coach@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/a/acme/signed-in").status_code == 302


def test_log_out_needs_post_and_ends_session(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    sign_in(client)
    confirm = client.get("/a/acme/logout")
    assert confirm.status_code == 200
    assert client.get("/a/acme/signed-in").status_code == 200, "GET /logout must not sign out"
    response = client.post("/a/acme/logout", data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert response.status_code == 303
    assert client.get("/a/acme/signed-in").status_code == 302
