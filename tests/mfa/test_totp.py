"""TOTP and recovery-code rules (idp.mfa.totp): values in, values out, no storage."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from idp.mfa import totp
from idp.mfa.qr import qr_svg

SECRET = pyotp.random_base32()
NOW = datetime(2026, 12, 1, 8, 0, 10, tzinfo=UTC)
NOW_STEP = totp.time_step(NOW)


def code_at(step: int) -> str:
    return pyotp.TOTP(SECRET).at(step * totp.STEP_SECONDS)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_one_step_of_drift_either_side_is_accepted(offset: int) -> None:
    assert totp.matching_step(SECRET, code_at(NOW_STEP + offset), now_step=NOW_STEP, last_used_step=None) == (
        NOW_STEP + offset)


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_further_away_are_refused(offset: int) -> None:
    code = code_at(NOW_STEP + offset)
    if any(code == code_at(NOW_STEP + near) for near in (-1, 0, 1)):
        pytest.fail("two steps produced the same code: pick another secret")  # 1 in ~300k
    assert totp.matching_step(SECRET, code, now_step=NOW_STEP, last_used_step=None) is None


def test_a_step_is_accepted_once() -> None:
    code = code_at(NOW_STEP)
    used = totp.matching_step(SECRET, code, now_step=NOW_STEP, last_used_step=None)
    assert used == NOW_STEP
    assert totp.matching_step(SECRET, code, now_step=NOW_STEP, last_used_step=used) is None, "replay"
    # and an older code, still within the drift window, cannot be used after a newer one
    assert totp.matching_step(SECRET, code_at(NOW_STEP - 1), now_step=NOW_STEP, last_used_step=used) is None
    assert totp.matching_step(SECRET, code_at(NOW_STEP + 1), now_step=NOW_STEP, last_used_step=used) == NOW_STEP + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 456"])
def test_malformed_codes_never_match(code: str) -> None:
    assert totp.matching_step(SECRET, code, now_step=NOW_STEP, last_used_step=None) is None


def test_what_people_type_is_normalised() -> None:
    assert totp.normalize_code(" 123 456\t") == "123456"
    assert totp.normalize_code("ABCDE-FGHJK") == "abcdefghjk"


def test_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == totp.RECOVERY_CODE_COUNT == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert totp.looks_like_recovery_code(totp.normalize_code(code))
        assert not set(code) & set("01ilo"), "no characters that read alike"
    assert not totp.looks_like_recovery_code("123456")


def test_the_provisioning_uri_names_the_tenant_and_the_person() -> None:
    uri = totp.provisioning_uri(SECRET, account_name="coach@example.com", issuer_name="Acme Swim")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET] and query["issuer"] == ["Acme Swim"]
    assert "coach%40example.com" in parts.path or "coach@example.com" in parts.path


def test_the_qr_code_is_an_accessible_inline_svg() -> None:
    svg = qr_svg("otpauth://totp/x?secret=" + SECRET)
    assert svg.startswith('<svg role="img" ') and "<title>" in svg and "<script" not in svg
