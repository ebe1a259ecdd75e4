"""TOTP (RFC 6238) and recovery-code rules, apart from storage: values in, values out."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp

STEP_SECONDS = 30  # RFC 6238 §4.1 default X
DIGITS = 6
DRIFT_STEPS = 1  # RFC 6238 §5.2: accept one step either side for clock drift and typing time
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are read off paper
_RECOVERY_LENGTH = 10  # ~49 bits each; single use and throttled


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits (RFC 4226 §4 recommends at least 128)


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def provisioning_uri(secret: str, *, account_name: str, issuer_name: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer_name
    )


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def normalize_code(raw: str) -> str:
    """What the person typed, without spaces and hyphens, lower-cased ("123 456", "ABCDE-FGHJK")."""
    return "".join(ch for ch in raw if ch not in " -\t").lower()


def matching_step(secret: str, code: str, *, now_step: int, last_used_step: int | None) -> int | None:
    """The time step whose code this is, within ±DRIFT_STEPS of now and after the last one used.

    A step at or before `last_used_step` never matches: a code is accepted once (RFC 6238 §5.2).
    """
    if not looks_like_totp(code):
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    found = None
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(otp.generate_otp(step), code) and found is None:
            found = step
    return found


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Codes formatted for reading, "abcde-fghjk"; `normalize_code` undoes the hyphen."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def looks_like_recovery_code(code: str) -> bool:
    return len(code) == _RECOVERY_LENGTH and all(ch in _RECOVERY_ALPHABET for ch in code)
