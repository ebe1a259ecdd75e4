"""Sign-in throttling: growing delays after a few free failures, per account and per IP, never a
permanent lock-out. Time travels with the app's clock; nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.clock import Clock
from idp.throttling.rules import ACCOUNT_POLICY, IP_POLICY, Policy, delay_after, effective_failures, retry_after
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user

WRONG = "not the password at all"
FREE = ACCOUNT_POLICY.free_attempts


def travel(app: Flask, delta: timedelta) -> None:
    clock: Clock = app.extensions["idp.clock"]
    clock.advance(delta)


class Attempts:
    """Posts the sign-in form as one browser from one IP address."""

    def __init__(self, client: FlaskClient, prefix: str = "/a/acme", ip: str = "198.51.100.1") -> None:
        self.client = client
        self.prefix = prefix
        self.environ = {"REMOTE_ADDR": ip}

    def __call__(self, email: str = "coach@example.com", password: str = WRONG):  # type: ignore[no-untyped-def]
        # Signed in already, /login leads to a page whose log-out form carries a token just as good.
        page = self.client.get(f"{self.prefix}/login", environ_base=self.environ, follow_redirects=True)
        token = csrf_from(page.get_data(as_text=True))
        return self.client.post(
            f"{self.prefix}/login", data={"csrf_token": token, "email": email, "password": password},
            environ_base=self.environ,
        )


def fail(attempt: Attempts, times: int, email: str = "coach@example.com") -> None:
    for _ in range(times):
        assert attempt(email).status_code == 401


def retry_after_header(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 429
    return int(response.headers["Retry-After"])


# -- pure rules -----------------------------------------------------------------------------------

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (0, timedelta(0)),
        (FREE - 1, timedelta(0)),
        (FREE, ACCOUNT_POLICY.first_delay),
        (FREE + 1, ACCOUNT_POLICY.first_delay * 2),
        (FREE + 2, ACCOUNT_POLICY.first_delay * 4),
        (FREE + 30, ACCOUNT_POLICY.max_delay),
        (10**9, ACCOUNT_POLICY.max_delay),  # no overflow, still capped
    ],
)
def test_account_delays_grow_and_are_capped(failures: int, delay: timedelta) -> None:
    assert delay_after(ACCOUNT_POLICY, failures) == delay


def test_delays_never_shrink_as_failures_grow() -> None:
    for policy in (ACCOUNT_POLICY, IP_POLICY):
        delays = [delay_after(policy, n) for n in range(200)]
        assert delays == sorted(delays)
        assert max(delays) == policy.max_delay


def test_ip_policy_is_looser_than_the_account_policy() -> None:
    assert IP_POLICY.free_attempts > ACCOUNT_POLICY.free_attempts


def test_retry_after_counts_down_from_the_last_failure() -> None:
    policy = Policy(2, timedelta(seconds=10), timedelta(minutes=5), timedelta(hours=1))
    assert retry_after(policy, 2, T0, T0) == timedelta(seconds=10)
    assert retry_after(policy, 2, T0, T0 + timedelta(seconds=4)) == timedelta(seconds=6)
    assert retry_after(policy, 2, T0, T0 + timedelta(seconds=10)) == timedelta(0)
    assert retry_after(policy, 2, T0, T0 + timedelta(days=1)) == timedelta(0)
    assert retry_after(policy, 1, T0, T0) == timedelta(0)


def test_a_quiet_period_forgives_the_failures() -> None:
    assert effective_failures(ACCOUNT_POLICY, 12, T0, T0 + ACCOUNT_POLICY.forget_after - timedelta(seconds=1)) == 12
    assert effective_failures(ACCOUNT_POLICY, 12, T0, T0 + ACCOUNT_POLICY.forget_after) == 0


def test_no_permanent_lock_out_in_the_rules() -> None:
    for policy in (ACCOUNT_POLICY, IP_POLICY):
        assert policy.max_delay <= timedelta(minutes=15)
        assert retry_after(policy, 10**6, T0, T0 + policy.max_delay) == timedelta(0)


# -- through the sign-in page ---------------------------------------------------------------------


def test_after_the_free_failures_attempts_must_wait(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    fail(attempt, FREE)
    throttled = attempt()
    assert retry_after_header(throttled) == 2
    html = throttled.get_data(as_text=True)
    assert "Too many attempts" in html and "2 seconds" in html
    assert "Traceback" not in html


def test_right_password_during_the_delay_is_refused_then_works(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    fail(attempt, FREE)
    during = attempt(password=PASSWORD)
    wait = retry_after_header(during)
    assert client.get("/a/acme/signed-in").status_code == 302, "no session while throttled"
    travel(app, timedelta(seconds=wait - 1))
    assert attempt(password=PASSWORD).status_code == 429
    travel(app, timedelta(seconds=1))
    assert attempt(password=PASSWORD).status_code == 303, "no permanent lock-out"
    assert client.get("/a/acme/signed-in").status_code == 200


def test_delays_grow_with_each_further_failure(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    fail(attempt, FREE)
    waits = []
    for _ in range(6):
        wait = retry_after_header(attempt())
        waits.append(wait)
        travel(app, timedelta(seconds=wait))
        assert attempt().status_code == 401  # allowed again: counted as one more failure
    assert waits == [2, 4, 8, 16, 32, 64]
    # The cap, and still no lock-out: the right password works after the longest wait.
    travel(app, timedelta(minutes=15))
    assert attempt(password=PASSWORD).status_code == 303


def test_delay_is_capped_at_fifteen_minutes(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    fail(attempt, FREE)
    for _ in range(12):
        travel(app, timedelta(minutes=15))
        assert attempt().status_code == 401
    assert retry_after_header(attempt()) == 15 * 60


def test_success_resets_the_account_count(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    fail(attempt, FREE - 1)
    assert attempt(password=PASSWORD).status_code == 303
    log_out_token = csrf_from(client.get("/a/acme/logout").get_data(as_text=True))
    client.post("/a/acme/logout", data={"csrf_token": log_out_token})
    fail(attempt, FREE - 1)  # would be throttled had the count not been reset
    assert attempt().status_code == 401


def test_an_hour_of_quiet_forgives_the_failures(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    fail(attempt, FREE)
    assert attempt().status_code == 429
    travel(app, timedelta(hours=1))
    fail(attempt, FREE - 1)
    assert attempt().status_code == 401


def test_the_account_is_counted_however_the_email_is_typed(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attempt = Attempts(client)
    typed = ("coach@example.com", "COACH@example.com", " coach@example.com", "Coach@Example.Com", "coach@EXAMPLE.com")
    for email in typed:
        assert attempt(email).status_code == 401
    assert attempt("coach@example.com ").status_code == 429


def test_account_throttle_follows_the_account_across_ip_addresses(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    for i in range(FREE):
        assert Attempts(client, ip=f"198.51.100.{i + 10}")().status_code == 401
    assert Attempts(client, ip="203.0.113.99")(password=PASSWORD).status_code == 429


def test_throttling_one_account_leaves_others_alone(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    make_user(tenant, email="other@example.com")
    attempt = Attempts(client)
    fail(attempt, FREE)
    assert attempt().status_code == 429
    assert attempt("other@example.com", PASSWORD).status_code == 303


def test_throttling_is_per_tenant(app, client: FlaskClient) -> None:
    make_user(make_tenant("acme", "Acme Swim School"))
    make_user(make_tenant("beta", "Beta Dance"))
    at_acme = Attempts(client, "/a/acme")
    fail(at_acme, FREE)
    assert at_acme().status_code == 429
    assert Attempts(client, "/a/beta")(password=PASSWORD).status_code == 303


def test_per_ip_limit_across_many_accounts(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    sweeper = Attempts(client, ip="203.0.113.7")
    for i in range(IP_POLICY.free_attempts):
        assert sweeper(f"person{i}@example.com").status_code == 401  # one failure per account: none throttled
    blocked = sweeper("coach@example.com", PASSWORD)
    assert retry_after_header(blocked) >= 1
    assert client.get("/a/acme/signed-in").status_code == 302
    # Another address is not held back by that machine.
    assert Attempts(client, ip="198.51.100.50")("coach@example.com", PASSWORD).status_code == 303


def test_per_ip_limit_lifts_after_the_delay(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    sweeper = Attempts(client, ip="203.0.113.8")
    for i in range(IP_POLICY.free_attempts):
        sweeper(f"person{i}@example.com")
    wait = retry_after_header(sweeper("someone@example.com"))
    travel(app, timedelta(seconds=wait))
    assert sweeper("coach@example.com", PASSWORD).status_code == 303


def test_throttle_answers_the_same_for_existing_and_unknown_emails(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    answers = []
    for email, ip in (("coach@example.com", "198.51.100.1"), ("nobody@example.com", "198.51.100.2")):
        attempt = Attempts(client, ip=ip)
        fail(attempt, FREE, email)
        response = attempt(email)
        html = response.get_data(as_text=True)
        answers.append((response.status_code, response.headers.get("Retry-After"),
                        html.replace(csrf_from(html), "").replace(email, "EMAIL")))
    assert answers[0][0] == 429
    assert answers[0] == answers[1]


def test_an_ipv6_client_cannot_rotate_within_its_64(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    for i in range(IP_POLICY.free_attempts):
        # A new address of the same /64 for every attempt, and a new account for every attempt.
        assert Attempts(client, ip=f"2001:db8:1:2::{i + 1:x}")(f"person{i}@example.com").status_code == 401
    assert retry_after_header(Attempts(client, ip="2001:db8:1:2:ffff::9")("coach@example.com", PASSWORD)) >= 1
    assert Attempts(client, ip="2001:db8:1:3::1")("coach@example.com", PASSWORD).status_code == 303, \
        "the next /64 is another client"


def test_the_email_and_the_username_of_an_account_share_one_count(app, client: FlaskClient) -> None:
    make_user(make_tenant(), username="casey")
    for i in range(FREE):
        typed = "coach@example.com" if i % 2 else "Casey"
        assert Attempts(client, ip=f"198.51.100.{i + 10}")(typed).status_code == 401
    assert Attempts(client, ip="203.0.113.99")("casey", PASSWORD).status_code == 429
    assert Attempts(client, ip="203.0.113.99")("coach@example.com", PASSWORD).status_code == 429


def test_signing_in_by_username_clears_the_count_of_the_email(app, client: FlaskClient) -> None:
    make_user(make_tenant(), username="casey")
    attempt = Attempts(client)
    fail(attempt, FREE - 1)
    assert attempt("casey", PASSWORD).status_code == 303
    log_out_token = csrf_from(client.get("/a/acme/logout").get_data(as_text=True))
    client.post("/a/acme/logout", data={"csrf_token": log_out_token})
    fail(attempt, FREE - 1)  # would be throttled had the username's success not cleared the email's count
    assert attempt().status_code == 401
