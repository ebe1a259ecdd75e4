"""Enrolling, checking and removing a person's second factor (TOTP and recovery codes).

Wrong codes are throttled like passwords (idp.throttling, keyed by the person, not the
identifier typed), so guessing six digits is as slow as guessing a password. Every decision is
audited. The unit of work commits; a failure is kept although its request fails (keep_on_refusal).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import delete, func, or_, select, update

from idp import clock, metrics
from idp.accounts.models import User
from idp.audit import service as audit
from idp.crypto import keyring
from idp.db import add_once, db
from idp.errors import Conflict, InvalidInput
from idp.mfa import totp
from idp.mfa.models import RecoveryCode, SecondFactor
from idp.mfa.qr import qr_svg
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant
from idp.throttling import service as throttle
from idp.unit_of_work import keep_on_refusal

POLICIES = ("off", "optional", "required")


class InvalidCode(InvalidInput):
    """The code is wrong, already used, or from too far in the past or future."""


class NoEnrolment(Conflict):
    """There is no enrolment in progress for this session (or a factor is already confirmed)."""


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def factor_of(tenant: Tenant, user: User) -> SecondFactor | None:
    return db.session.execute(
        select(SecondFactor).where(SecondFactor.tenant_id == tenant.id, SecondFactor.user_id == user.id)
    ).scalar_one_or_none()


def has_confirmed_factor(tenant: Tenant, user: User) -> bool:
    return factor_of(tenant, user) is not None


def session_passed_second_factor(session: BrowserSession) -> bool:
    """A TOTP code here, or an upstream's multi-factor sign-in its connection is trusted for."""
    return bool({"otp", "mfa"} & set(session.amr.split()))


def may_enrol(tenant: Tenant, user: User) -> bool:
    """The tenant offers the second factor to this person (staff only; the policy is not "off")."""
    return user.pool == "staff" and tenant.second_factor_policy in ("optional", "required")


def must_enrol(tenant: Tenant, user: User) -> bool:
    return user.pool == "staff" and tenant.second_factor_policy == "required"


def start_enrolment(tenant: Tenant, user: User, session: BrowserSession) -> Enrolment:
    """The secret to show this browser session. It is derived, not stored, so showing the page
    changes nothing (GET never changes state) and a reload shows the same secret.

    Each session gets its own secret: someone who signs in elsewhere with the password alone
    never sees the secret the real person is about to confirm. Raises NoEnrolment when a factor
    is already on.
    """
    if factor_of(tenant, user) is not None:
        raise NoEnrolment()
    secret = _enrolment_secret(tenant, user, session)
    uri = totp.provisioning_uri(secret, account_name=user.email, issuer_name=tenant.name)
    return Enrolment(secret=secret, uri=uri, qr_svg=qr_svg(uri))


def confirm_enrolment(tenant: Tenant, user: User, session: BrowserSession, raw_code: str, ip: str) -> list[str]:
    """Check the first code from the app; on success the factor is on and ten recovery codes are
    returned, to be shown once. Raises InvalidCode, NoEnrolment or throttle.TooManyAttempts."""
    if factor_of(tenant, user) is not None:
        raise NoEnrolment()
    _check_throttle(tenant, user, ip)
    secret = _enrolment_secret(tenant, user, session)
    step = totp.matching_step(secret, totp.normalize_code(raw_code), now_step=totp.time_step(clock.now()),
                              last_used_step=None)
    if step is None:
        _failed(tenant, user, ip)
    now = clock.now()
    if not add_once(SecondFactor(tenant_id=tenant.id, user_id=user.id, secret_sealed=_seal(secret, tenant, user),
                                 confirmed_at=now, last_used_step=step, created_at=now)):
        raise NoEnrolment()  # two confirmations at once: the first one wins
    codes = _replace_recovery_codes(tenant, user)
    _passed(tenant, user, session)
    audit.record(tenant, audit.FACTOR_ENROLLED, user_id=user.id, ip=ip, factor="totp",
                 recovery_codes=len(codes))
    return codes


def verify(tenant: Tenant, user: User, session: BrowserSession, raw_code: str, ip: str) -> str:
    """Check a code at sign-in (or step-up): "totp" or "recovery_code" when it was right.

    Raises InvalidCode (wrong, replayed or spent) or throttle.TooManyAttempts.
    """
    factor = factor_of(tenant, user)
    if factor is None:
        raise NoEnrolment()
    _check_throttle(tenant, user, ip)
    code = totp.normalize_code(raw_code)
    if totp.looks_like_totp(code):
        if not _spend_step(factor, user, code):
            _failed(tenant, user, ip)
        _passed(tenant, user, session)
        return "totp"
    if not totp.looks_like_recovery_code(code) or not _spend_recovery_code(tenant, user, code):
        _failed(tenant, user, ip)
    _passed(tenant, user, session)
    audit.record(tenant, audit.RECOVERY_CODE_USED, user_id=user.id, ip=ip,
                 remaining=remaining_recovery_codes(tenant, user))
    return "recovery_code"


def remaining_recovery_codes(tenant: Tenant, user: User) -> int:
    return int(db.session.execute(
        select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.tenant_id == tenant.id, RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).scalar_one())


def remove_factor(tenant: Tenant, user: User, *, actor: str, ip: str | None = None) -> bool:
    """Turn the person's second factor off (an admin's decision); False when there was none."""
    factor = factor_of(tenant, user)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.tenant_id == tenant.id,
                                                  RecoveryCode.user_id == user.id))
    if factor is None:
        return False
    db.session.delete(factor)
    audit.record(tenant, audit.FACTOR_REMOVED, user_id=user.id, ip=ip, actor=actor, factor="totp")
    return True


def _spend_step(factor: SecondFactor, user: User, code: str) -> bool:
    """Accept the code once: a conditional UPDATE, so of two concurrent uses of one step one wins."""
    step = totp.matching_step(_unseal(factor, user), code, now_step=totp.time_step(clock.now()),
                              last_used_step=factor.last_used_step)
    if step is None:
        return False
    result = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.id == factor.id,
               or_(SecondFactor.last_used_step.is_(None), SecondFactor.last_used_step < step))
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    factor.last_used_step = step
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def _spend_recovery_code(tenant: Tenant, user: User, code: str) -> bool:
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.tenant_id == tenant.id, RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == _hash_recovery_code(user, code), RecoveryCode.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def _replace_recovery_codes(tenant: Tenant, user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.tenant_id == tenant.id,
                                                  RecoveryCode.user_id == user.id))
    codes = totp.new_recovery_codes()
    now = clock.now()
    for code in codes:
        db.session.add(RecoveryCode(tenant_id=tenant.id, user_id=user.id, created_at=now,
                                    code_hash=_hash_recovery_code(user, totp.normalize_code(code))))
    return codes


def _check_throttle(tenant: Tenant, user: User, ip: str) -> None:
    throttle.check_failures(tenant, _throttle_key(user), ip)


def _failed(tenant: Tenant, user: User, ip: str) -> NoReturn:
    """Record the failure, kept although the request is refused, and raise InvalidCode."""
    throttle.record_failure(tenant, _throttle_key(user), ip)
    keep_on_refusal()
    raise InvalidCode()


def _passed(tenant: Tenant, user: User, session: BrowserSession) -> None:
    throttle.record_success(tenant, _throttle_key(user))
    metrics.sign_in("second_factor")
    session.amr = " ".join(dict.fromkeys([*session.amr.split(), "otp"]))  # "pwd otp", "fed otp"


def _throttle_key(user: User) -> str:
    return f"second-factor|{user.id}"


def _hash_recovery_code(user: User, code: str) -> str:
    return keyring().hash_token(f"recovery-code|{user.id}|{code}")


def _enrolment_secret(tenant: Tenant, user: User, session: BrowserSession) -> str:
    """160 bits (RFC 4226 §4) from a keyed hash of who enrols in which session."""
    digest = bytes.fromhex(keyring().hash_token(f"totp-enrolment|{tenant.id}|{user.id}|{session.id}"))
    return base64.b32encode(digest[:20]).decode()


def _seal(secret: str, tenant: Tenant, user: User) -> str:
    return keyring().seal(secret.encode(), _seal_context(tenant.id, user.id))


def _unseal(factor: SecondFactor, user: User) -> str:
    return keyring().unseal(factor.secret_sealed, _seal_context(factor.tenant_id, user.id)).decode()


def _seal_context(tenant_id: str, user_id: str) -> str:
    return f"totp-secret|{tenant_id}|{user_id}"
