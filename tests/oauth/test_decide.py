"""`authorize.decide`, the authorization endpoint's next step (OIDC Core §3.1.2.1), as one table.

Each row is a situation and the step it must lead to; a new rule is a new row. The defaults are
a person signed in ten minutes before the request arrived, nothing asked, consent on record.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from idp.oauth.authorize import Situation, Step, decide

REQUESTED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # when the authorization request arrived
BEFORE = REQUESTED - timedelta(minutes=10)  # a sign-in from before the request
AFTER = REQUESTED + timedelta(seconds=30)  # the sign-in the request led to
NOW = REQUESTED + timedelta(minutes=1)

USUAL = Situation(prompts=frozenset(), max_age=None, signed_in=True, auth_time=BEFORE, pending_since=REQUESTED,
                  now=NOW, hint_matches=True, needs_consent=False)

ROWS: list[tuple[str, dict[str, Any], Step]] = [
    # signed in or not
    ("signed in, nothing asked: a code", {}, "issue"),
    ("not signed in: the sign-in page", {"signed_in": False, "auth_time": None}, "login"),
    ("not signed in, prompt=none: login_required", {"signed_in": False, "auth_time": None,
                                                    "prompts": {"none"}}, "login_required"),
    ("a session without an auth_time counts as none", {"auth_time": None}, "login"),
    # prompt=login
    ("prompt=login, signed in before the request: sign in again", {"prompts": {"login"}}, "login"),
    ("prompt=login, signed in after the request: that was the sign-in asked for",
     {"prompts": {"login"}, "auth_time": AFTER}, "issue"),
    ("prompt=none login: no page may be shown", {"prompts": {"none", "login"}}, "login_required"),
    # max_age
    ("max_age not yet exceeded", {"max_age": "3600"}, "issue"),
    ("max_age exceeded: sign in again", {"max_age": "300"}, "login"),
    ("max_age exceeded, prompt=none", {"max_age": "300", "prompts": {"none"}}, "login_required"),
    ("max_age=0 and a sign-in from before the request", {"max_age": "0"}, "login"),
    ("max_age=0 and the sign-in the request led to", {"max_age": "0", "auth_time": AFTER}, "issue"),
    ("max_age exceeded by exactly nothing", {"max_age": "600", "now": BEFORE + timedelta(seconds=600)}, "issue"),
    ("max_age not a number", {"max_age": "soon"}, "invalid_max_age"),
    ("max_age negative", {"max_age": "-1"}, "invalid_max_age"),
    ("max_age in non-ASCII digits", {"max_age": "٣٠"}, "invalid_max_age"),
    ("max_age of eleven digits", {"max_age": "12345678901"}, "invalid_max_age"),
    ("max_age refused before anything else", {"max_age": "x", "signed_in": False, "auth_time": None},
     "invalid_max_age"),
    # id_token_hint
    ("the hint names someone else: sign in", {"hint_matches": False}, "login"),
    ("the hint names someone else, prompt=none", {"hint_matches": False, "prompts": {"none"}}, "login_required"),
    ("the hint names someone else, but this sign-in came after the request",
     {"hint_matches": False, "auth_time": AFTER}, "issue"),
    # consent
    ("consent needed: the consent page", {"needs_consent": True}, "consent"),
    ("consent needed, prompt=none: consent_required", {"needs_consent": True, "prompts": {"none"}},
     "consent_required"),
    ("prompt=consent with consent on record: ask again", {"prompts": {"consent"}}, "consent"),
    ("prompt=none consent with consent on record: nothing to show", {"prompts": {"none", "consent"}}, "issue"),
    ("prompt=login consent after a fresh sign-in", {"prompts": {"login", "consent"}, "auth_time": AFTER}, "consent"),
    ("sign-in comes before consent", {"needs_consent": True, "signed_in": False, "auth_time": None}, "login"),
]


@pytest.mark.parametrize(("changes", "expected"), [(changes, step) for _, changes, step in ROWS],
                         ids=[name for name, _, _ in ROWS])
def test_decide(changes: dict[str, Any], expected: Step) -> None:
    if "prompts" in changes:
        changes = {**changes, "prompts": frozenset(changes["prompts"])}
    assert decide(replace(USUAL, **changes)) == expected
