"""Forgot password, "set your password" for invited staff, and email verification.

Every flow here follows docs/architecture.md §Email: the answer to "send me a link" never tells whether
the address exists; a link is used up only by a POST; completing a reset also verifies the
address, since the person has just proved they read mail sent to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from idp import clock
from idp.accounts.emails import normalize_email, validate_email
from idp.accounts.link_models import INVITATION, RESET_PASSWORD, VERIFY_EMAIL
from idp.accounts.links import (
    LinkCheck,
    LinkStatus,
    check_link,
    consume_link,
    issue_link,
    lifetime,
    link_url,
    retire_links,
)
from idp.accounts.models import User
from idp.accounts.passwords import check_password_strength, hash_password
from idp.accounts.service import create_user, find_user_by_email
from idp.crypto import keyring, random_token
from idp.errors import Conflict, Gone, InvalidInput
from idp.federation.connections import sso_required_for
from idp.mail.outbox import enqueue
from idp.mail.render import render_mail
from idp.tenancy.models import Tenant
from idp.throttling import service as throttle

PASSWORD_PURPOSES = (RESET_PASSWORD, INVITATION)


class LinkUnusable(Gone):
    """The link cannot do what was asked; `check` says why (used, expired, invalid)."""

    def __init__(self, check: LinkCheck) -> None:
        super().__init__(check.status.value)
        self.check = check


class PasswordsDiffer(InvalidInput):
    """The two new-password fields do not match."""


class AlreadyVerified(Conflict):
    """A new verification link was asked for an address that is verified already."""


@dataclass(frozen=True)
class VerifyOutcome:
    already_verified: bool


def request_password_link(tenant: Tenant, email: str, ip: str, pool: str = "staff") -> None:
    """"Forgot password?": mail a reset (or set-password) link if the address has an account
    that may use a password (an SSO-required domain's people never get one).

    Raises InvalidEmail for input that is not an address and Throttled when the address or the IP
    asked too often; otherwise returns the same way, doing the same work, whether or not the
    address exists, so neither the answer nor its timing tells (OWASP Forgot Password Cheat Sheet).
    """
    email = validate_email(email)
    throttle.hit(tenant, throttle.mail_checks(normalize_email(email), ip))
    user = find_user_by_email(tenant, pool, email)
    if user is not None and sso_required_for(tenant, email, pool) is None:
        send_password_link(tenant, user)
    else:  # no account, or one whose organization signs in with SSO only: nothing to reset
        _work_like_sending(tenant, email)


def staff_sent_reset(tenant: Tenant, email: str, pool: str = "staff") -> bool:
    """A portal's staff asked to mail this person a reset link (admin API). False when no account
    of the pool has the address. Limited per address, so no portal can mail-bomb anyone."""
    email = validate_email(email)
    user = find_user_by_email(tenant, pool, email)
    if user is None or user.email_normalized is None:
        return False
    throttle.hit(tenant, [(throttle.MAIL_PER_ADDRESS, user.email_normalized)])
    send_password_link(tenant, user)
    return True


def send_password_link(tenant: Tenant, user: User) -> None:
    """Queue a reset link, or a set-password link for someone who has no password yet."""
    purpose = RESET_PASSWORD if user.password_hash else INVITATION
    _send_link(tenant, user, purpose)


def invite_user(tenant: Tenant, *, email: str, name: str | None, pool: str, send_invitation: bool) -> User:
    """Create an account without a password (admin API) and, if asked, mail its "set your
    password" link, which also verifies the address. Raises AccountError (EmailInUse when the
    address is taken in the pool); commits."""
    user = create_user(tenant, email=email, name=name, pool=pool)
    if send_invitation:
        _send_link(tenant, user, INVITATION)
    return user


def send_verification(tenant: Tenant, user: User, ip: str) -> bool:
    """Mail a verification link to a signed-in person; False if there is nothing to verify."""
    if user.email_verified or user.email_normalized is None:
        return False
    throttle.hit(tenant, throttle.mail_checks(user.email_normalized, ip))
    _send_link(tenant, user, VERIFY_EMAIL)
    return True


def set_password_with_link(tenant: Tenant, purpose: str, token: str, password: str, confirm: str) -> User:
    """Complete a reset or set-password link (the POST). Raises LinkUnusable, WeakPassword or
    PasswordsDiffer; a refused password leaves the link usable so the person can try again."""
    check = _usable(tenant, purpose, token)
    user = check.user
    assert user is not None
    check_password_strength(password, user.email)
    if password != confirm:
        raise PasswordsDiffer("The two passwords do not match.")
    if not consume_link(check):
        raise LinkUnusable(LinkCheck(LinkStatus.USED, check.link, user))
    had_password = user.password_hash is not None
    user.password_hash = hash_password(password)
    user.password_changed_at = clock.now()
    user.email_verified = True  # reading the mail proved the address
    retire_links(tenant, user, (RESET_PASSWORD, INVITATION, VERIFY_EMAIL))
    _after_password_change(tenant, user)
    if had_password:
        _send_password_changed(tenant, user)
    return user


def verify_email_with_link(tenant: Tenant, token: str) -> VerifyOutcome:
    """Complete a verification link (the POST). A link for an address that is already verified
    is not an error, used or not: the person is where they wanted to be."""
    check = check_link(tenant, VERIFY_EMAIL, token)
    if already_verified(check):
        return VerifyOutcome(already_verified=True)
    if check.status is not LinkStatus.VALID:
        raise LinkUnusable(check)
    user = check.user
    assert user is not None
    if not consume_link(check):
        return VerifyOutcome(already_verified=True)  # a concurrent click won; it verified the address
    user.email_verified = True
    retire_links(tenant, user, (VERIFY_EMAIL,))
    return VerifyOutcome(already_verified=False)


def already_verified(check: LinkCheck) -> bool:
    return (check.status in (LinkStatus.VALID, LinkStatus.USED, LinkStatus.EXPIRED)
            and check.user is not None and check.user.email_verified)


def send_new_link(tenant: Tenant, purpose: str, token: str, ip: str) -> str:
    """From an expired link's page: mail a fresh one to the same account. Returns the masked
    address. Only an expired link can ask; it proves its holder once read that mailbox. Raises
    AlreadyVerified for a verification link whose address needs none, LinkUnusable, Throttled."""
    check = check_link(tenant, purpose, token)
    if purpose == VERIFY_EMAIL and already_verified(check):
        raise AlreadyVerified()  # verified since (another link, a reset): nothing left to send
    if check.status is not LinkStatus.EXPIRED or check.user is None:
        raise LinkUnusable(check)
    user = check.user
    assert user.email_normalized is not None
    throttle.hit(tenant, throttle.mail_checks(user.email_normalized, ip))
    if purpose == VERIFY_EMAIL:
        _send_link(tenant, user, VERIFY_EMAIL)
    else:
        send_password_link(tenant, user)
    return mask_email(user.email)


def mask_email(email: str) -> str:
    """"c••••@example.com": enough for the person to recognise, little for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * min(max(len(local) - 1, 1), 6)}@{domain}"


def _usable(tenant: Tenant, purpose: str, token: str) -> LinkCheck:
    check = check_link(tenant, purpose, token)
    if check.status is not LinkStatus.VALID:
        raise LinkUnusable(check)
    return check


def _after_password_change(tenant: Tenant, user: User) -> None:
    """Whoever knew the old password is out: every browser session ends, every refresh token is
    revoked and relying parties hear of it by back-channel logout."""
    from idp.oauth.logout import sign_out_everywhere

    sign_out_everywhere(tenant, user)


def _send_link(tenant: Tenant, user: User, purpose: str) -> None:
    url = issue_link(tenant, user, purpose)
    kind = {RESET_PASSWORD: "reset_password", INVITATION: "invitation", VERIFY_EMAIL: "verify_email"}[purpose]
    enqueue(tenant, kind, user.email, link=url, locale=user.locale, name=user.name, email=user.email,
            expires_in=describe_duration(lifetime(tenant, purpose)))


def _send_password_changed(tenant: Tenant, user: User) -> None:
    enqueue(tenant, "password_changed", user.email, locale=user.locale, name=user.name, email=user.email,
            changed_at=clock.now().strftime("%d %B %Y at %H:%M UTC"), sign_in_url=link_url(tenant, "/login"))


def _work_like_sending(tenant: Tenant, email: str) -> None:
    """For an unknown address, do what sending costs (token, hash, rendering) and store nothing."""
    token = random_token(32)
    keyring().hash_token(f"account-link|{token}")
    render_mail(tenant, "reset_password", None, link=link_url(tenant, f"/reset-password/{token}"),
                name=None, email=email, expires_in=describe_duration(lifetime(tenant, RESET_PASSWORD)))


def describe_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{max(seconds // 60, 1)} minutes"

