"""Families: the rules (docs/decisions/families.md). Services flush, never commit.

- A family has one primary guardian (a customer-pool account, primary of no other family) and
  secondary members with `view` access. Only the primary adds members, by invitation; staff and
  the operator may revoke access and change the primary, never grant access.
- Ending access (revoked by staff or the primary, or the primary changed) takes effect at once:
  the member's grants for that family are revoked, relying parties hear it by back-channel logout,
  and the member and the primary are mailed (durable outbox, same transaction).
- A secondary member confirms once being 18 or older; while the primary has not accepted the
  tenant's newest family policies, the family's secondary members are blocked.
- A person in several families picks one per sign-in (the family switcher); grants keep the
  family chosen when they were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from idp import clock
from idp.accounts.emails import normalize_email, validate_email
from idp.accounts.links import link_url
from idp.accounts.models import User
from idp.accounts.passwords import check_password_strength
from idp.accounts.service import create_user, find_user_by_email, get_user
from idp.audit import service as audit
from idp.crypto import keyring, random_token
from idp.db import add_once, db
from idp.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from idp.families.models import (
    ACCESS_LEVELS,
    FULL,
    VIEW,
    AdultAttestation,
    Family,
    FamilyChoice,
    FamilyInvitation,
    FamilyMember,
)
from idp.mail.outbox import enqueue
from idp.oauth.backchannel import queue_logout
from idp.oauth.grants import revoke_user_grants
from idp.policies.service import outdated_for
from idp.recovery.service import describe_duration
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant
from idp.throttling import service as throttle

PRIMARY = "primary"
SECONDARY = "secondary"
MAX_NAME_LENGTH = 200
MAX_PENDING_INVITATIONS = 20  # per family: enough for any household, too few to spam with
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 64
FAMILY_POLICIES = ("family",)

# Audit events (past tense, one family of names).
CREATED = "family.created"
INVITED = "family.invited"
INVITATION_CANCELLED = "family.invitation_cancelled"
JOINED = "family.joined"
ACCESS_REVOKED = "family.access_revoked"
PRIMARY_CHANGED = "family.primary_changed"
ADULT_CONFIRMED = "family.adult_confirmed"
ADULT_DECLINED = "family.adult_declined"
CHOSEN = "family.chosen"

# Why access ended, as the mails say it.
BY_STAFF = "staff"
BY_PRIMARY = "primary"
PRIMARY_CHANGE = "primary_changed"


class FamilyError(InvalidInput):
    """A family change that cannot be made as asked; the message says why."""


class NotPrimary(Forbidden):
    message = "Only the family's primary guardian can do this."


class InvitationUnusable(Gone):
    """The invitation link cannot be used; `status` says why (accepted, cancelled, expired, invalid)."""

    def __init__(self, status: str) -> None:
        super().__init__({
            "accepted": "This invitation has already been accepted.",
            "cancelled": "This invitation was withdrawn.",
            "expired": "This invitation has expired. Ask the family's primary guardian to invite you again.",
        }.get(status, "This invitation link is not valid."))
        self.link_status = status


class WrongAccount(Forbidden):
    message = "This invitation was sent to another email address."


@dataclass(frozen=True)
class Membership:
    family: Family
    role: str  # primary | secondary
    access: str  # full | view

    def claim(self) -> dict[str, str]:
        return {"id": self.family.id, "name": self.family.name, "role": self.role, "access": self.access}


@dataclass(frozen=True)
class InvitationCheck:
    status: str  # pending | accepted | cancelled | expired | invalid
    invitation: FamilyInvitation | None = None
    family: Family | None = None
    existing: User | None = None  # the customer account that already has the invited address


# -- looking up --------------------------------------------------------------------------------

def get_family(tenant: Tenant, family_id: str) -> Family:
    family = db.session.execute(
        select(Family).where(Family.tenant_id == tenant.id, Family.id == family_id)
    ).scalar_one_or_none() if family_id and len(family_id) <= 32 else None
    if family is None:
        raise NotFound("There is no such family.")
    return family


def family_of_primary(tenant: Tenant, user_id: str) -> Family | None:
    return db.session.execute(
        select(Family).where(Family.tenant_id == tenant.id, Family.primary_user_id == user_id)
    ).scalar_one_or_none()


def memberships(tenant: Tenant, user: User) -> list[Membership]:
    """Every family this person belongs to: the one they lead first, then by name."""
    if user.pool != "customer":
        return []
    led = [Membership(f, PRIMARY, FULL) for f in db.session.execute(
        select(Family).where(Family.tenant_id == tenant.id, Family.primary_user_id == user.id)).scalars()]
    joined = [Membership(f, SECONDARY, access) for f, access in db.session.execute(
        select(Family, FamilyMember.access).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(FamilyMember.tenant_id == tenant.id, FamilyMember.user_id == user.id, Family.tenant_id == tenant.id)
        .order_by(Family.name, Family.id))]
    return led + joined


def membership(tenant: Tenant, user_id: str, family_id: str) -> Membership | None:
    family = db.session.execute(
        select(Family).where(Family.tenant_id == tenant.id, Family.id == family_id)
    ).scalar_one_or_none()
    if family is None:
        return None
    if family.primary_user_id == user_id:
        return Membership(family, PRIMARY, FULL)
    access = db.session.execute(
        select(FamilyMember.access).where(FamilyMember.tenant_id == tenant.id, FamilyMember.family_id == family.id,
                                          FamilyMember.user_id == user_id)
    ).scalar_one_or_none()
    return Membership(family, SECONDARY, access) if access is not None else None


def describe(tenant: Tenant, family: Family, *, with_invitations: bool = True) -> dict[str, object]:
    """The family as the CLI and the APIs show it."""
    primary = get_user(tenant, family.primary_user_id)
    members: list[dict[str, object]] = []
    if primary is not None:
        members.append({"sub": primary.sub, "email": primary.email, "name": primary.name, "role": PRIMARY,
                        "access": FULL})
    for user, row in db.session.execute(
        select(User, FamilyMember).join(FamilyMember, FamilyMember.user_id == User.id)
        .where(FamilyMember.tenant_id == tenant.id, FamilyMember.family_id == family.id, User.tenant_id == tenant.id)
        .order_by(FamilyMember.added_at, FamilyMember.id)
    ):
        members.append({"sub": user.sub, "email": user.email, "name": user.name, "role": SECONDARY,
                        "access": row.access, "added_at": row.added_at.isoformat()})
    body: dict[str, object] = {
        "id": family.id, "name": family.name, "created_at": family.created_at.isoformat(),
        "primary": {"sub": primary.sub, "email": primary.email} if primary is not None else None,
        "members": members,
    }
    if with_invitations:
        now = clock.now()
        body["invitations"] = [
            {"id": inv.id, "email": inv.email, "access": inv.access, "created_at": inv.created_at.isoformat(),
             "expires_at": inv.expires_at.isoformat(), "status": inv.status(now)}
            for inv in _invitations(tenant, family)
        ]
    return body


def _invitations(tenant: Tenant, family: Family, *, pending_only: bool = False) -> list[FamilyInvitation]:
    statement = select(FamilyInvitation).where(FamilyInvitation.tenant_id == tenant.id,
                                               FamilyInvitation.family_id == family.id)
    if pending_only:
        statement = statement.where(FamilyInvitation.accepted_at.is_(None), FamilyInvitation.cancelled_at.is_(None),
                                    FamilyInvitation.expires_at > clock.now())
    return list(db.session.execute(statement.order_by(FamilyInvitation.created_at.desc(), FamilyInvitation.id))
                .scalars())


# -- the operator and staff --------------------------------------------------------------------

def create_family(tenant: Tenant, *, name: str, primary_email: str, actor: str = "operator") -> Family:
    """A new family led by the customer account with `primary_email`."""
    name = _family_name(name)
    primary = customer_by_email(tenant, primary_email)
    _not_leading(tenant, primary)
    family = Family(tenant_id=tenant.id, name=name, primary_user_id=primary.id, created_at=clock.now())
    db.session.add(family)
    db.session.flush()
    audit.record(tenant, CREATED, user_id=primary.id, actor=actor, family=family.id, name=name)
    return family


def set_primary(tenant: Tenant, family: Family, new_primary: User, *, actor: str = "staff") -> None:
    """Make `new_primary` the primary guardian (a family merge, an account change). Every
    secondary member's access and every pending invitation ends, everyone affected is mailed, and
    the new primary invites again. The old primary keeps no access to the family."""
    if new_primary.pool != "customer":
        raise FamilyError("The primary guardian must be a customer account.")
    if new_primary.id == family.primary_user_id:
        raise FamilyError("That person is already the family's primary guardian.")
    _not_leading(tenant, new_primary)
    old_primary = get_user(tenant, family.primary_user_id)
    for member in _secondary_members(tenant, family):
        _end_access(tenant, family, member, reason=PRIMARY_CHANGE, actor=actor, tell_primary=False,
                    tell_member=member.id != new_primary.id)
    for invitation in _invitations(tenant, family, pending_only=True):
        invitation.cancelled_at = clock.now()
        enqueue(tenant, "family_invitation_withdrawn", invitation.email, family=family.name)
    if old_primary is not None:
        _revoke_family_grants(tenant, family, old_primary)
        enqueue(tenant, "family_primary_changed", old_primary.email, locale=old_primary.locale,
                name=old_primary.name, family=family.name, now_primary=False)
    family.primary_user_id = new_primary.id
    db.session.flush()
    enqueue(tenant, "family_primary_changed", new_primary.email, locale=new_primary.locale, name=new_primary.name,
            family=family.name, now_primary=True, family_url=link_url(tenant, "/account/family"))
    audit.record(tenant, PRIMARY_CHANGED, user_id=new_primary.id, actor=actor, family=family.id,
                 previous=old_primary.sub if old_primary else None)


def revoke(tenant: Tenant, family: Family, member: User, *, actor: str) -> None:
    """End a secondary member's access (staff: `actor="staff"`; the primary: `actor="primary"`)."""
    if member.id == family.primary_user_id:
        raise FamilyError("The primary guardian's access cannot be revoked; change the primary guardian instead.")
    if membership(tenant, member.id, family.id) is None:
        raise NotFound("That person is not a member of this family.")
    _end_access(tenant, family, member, reason=BY_PRIMARY if actor == "primary" else BY_STAFF, actor=actor,
                tell_primary=True, tell_member=True)


def _end_access(tenant: Tenant, family: Family, member: User, *, reason: str, actor: str, tell_primary: bool,
                tell_member: bool) -> None:
    db.session.execute(delete(FamilyMember).where(
        FamilyMember.tenant_id == tenant.id, FamilyMember.family_id == family.id, FamilyMember.user_id == member.id))
    _revoke_family_grants(tenant, family, member)
    audit.record(tenant, ACCESS_REVOKED, user_id=member.id, actor=actor, family=family.id, reason=reason)
    if tell_member:
        enqueue(tenant, "family_access_ended", member.email, locale=member.locale, name=member.name,
                family=family.name, reason=reason)
    primary = get_user(tenant, family.primary_user_id) if tell_primary else None
    if primary is not None:
        enqueue(tenant, "family_member_removed", primary.email, locale=primary.locale, name=primary.name,
                family=family.name, member=member.email, reason=reason)


def _revoke_family_grants(tenant: Tenant, family: Family, user: User) -> None:
    """Access ends now: the refresh tokens (and, through their grants, access tokens) made for
    this family are revoked, relying parties hear it, and no session keeps it as its choice."""
    grants = revoke_user_grants(tenant, user.id, family_id=family.id)
    queue_logout(tenant, grants, user.sub)
    db.session.execute(
        update(BrowserSession).where(BrowserSession.tenant_id == tenant.id, BrowserSession.user_id == user.id,
                                     BrowserSession.family_id == family.id)
        .values(family_id=None).execution_options(synchronize_session="fetch"))


def _secondary_members(tenant: Tenant, family: Family) -> list[User]:
    return list(db.session.execute(
        select(User).join(FamilyMember, FamilyMember.user_id == User.id)
        .where(FamilyMember.tenant_id == tenant.id, FamilyMember.family_id == family.id, User.tenant_id == tenant.id)
    ).scalars())


def customer_by_email(tenant: Tenant, email: str) -> User:
    user = find_user_by_email(tenant, "customer", validate_email(email))
    if user is None:
        raise FamilyError("No customer account has that email address.")
    return user


def _not_leading(tenant: Tenant, user: User) -> None:
    led = family_of_primary(tenant, user.id)
    if led is not None:
        raise FamilyError(f"{user.email} is already the primary guardian of the family {led.name!r}.")


def _family_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise FamilyError(f"A family name is 1 to {MAX_NAME_LENGTH} printable characters.")
    return name


# -- the primary guardian ----------------------------------------------------------------------

def invite(tenant: Tenant, family: Family, inviter: User, email: str, ip: str) -> FamilyInvitation:
    """Mail `email` an invitation to join with view access. Only the primary invites; not their
    own address, a member's, or a staff account's. A new invitation to the same address replaces
    the pending one."""
    if family.primary_user_id != inviter.id:
        raise NotPrimary()
    email = validate_email(email)
    normalized = normalize_email(email)
    if normalized == normalize_email(inviter.email):
        raise FamilyError("That is your own email address: invite the person you want to share the account with.")
    if find_user_by_email(tenant, "staff", email) is not None:
        raise FamilyError("That address belongs to a staff account here. Invite a personal email address.")
    invitee = find_user_by_email(tenant, "customer", email)
    if invitee is not None and membership(tenant, invitee.id, family.id) is not None:
        raise FamilyError("That person is already a member of your family.")
    pending = _invitations(tenant, family, pending_only=True)
    for old in pending:
        if old.email_normalized == normalized:
            old.cancelled_at = clock.now()
    if sum(1 for old in pending if old.email_normalized != normalized) >= MAX_PENDING_INVITATIONS:
        raise FamilyError(f"Your family has {MAX_PENDING_INVITATIONS} invitations waiting; cancel one first.")
    throttle.hit(tenant, throttle.mail_checks(normalized, ip))
    token = random_token(TOKEN_BYTES)
    now = clock.now()
    invitation = FamilyInvitation(
        tenant_id=tenant.id, family_id=family.id, email=email, email_normalized=normalized,
        token_hash=_hash(token), access=VIEW, invited_by=inviter.id, created_at=now,
        expires_at=now + _lifetime(tenant),
    )
    db.session.add(invitation)
    db.session.flush()
    enqueue(tenant, "family_invitation", email, link=link_url(tenant, f"/family/invitation/{token}"),
            family=family.name, inviter=inviter.name or inviter.email, expires_in=_describe(tenant))
    audit.record(tenant, INVITED, user_id=inviter.id, ip=ip, family=family.id, invitation=invitation.id)
    return invitation


def cancel_invitation(tenant: Tenant, family: Family, inviter: User, invitation_id: str) -> None:
    if family.primary_user_id != inviter.id:
        raise NotPrimary()
    invitation = db.session.execute(
        select(FamilyInvitation).where(FamilyInvitation.tenant_id == tenant.id, FamilyInvitation.family_id == family.id,
                                       FamilyInvitation.id == invitation_id)
    ).scalar_one_or_none() if invitation_id and len(invitation_id) <= 32 else None
    if invitation is None:
        raise NotFound("There is no such invitation.")
    if invitation.status(clock.now()) != "pending":
        raise Conflict(f"This invitation is {invitation.status(clock.now())} already.")
    invitation.cancelled_at = clock.now()
    audit.record(tenant, INVITATION_CANCELLED, user_id=inviter.id, family=family.id, invitation=invitation.id)


# -- the invited person ------------------------------------------------------------------------

def check_invitation(tenant: Tenant, token: str) -> InvitationCheck:
    """What an invitation link is, changing nothing (safe for GET: mail scanners open links)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return InvitationCheck("invalid")
    invitation = db.session.execute(
        select(FamilyInvitation).where(FamilyInvitation.tenant_id == tenant.id,
                                       FamilyInvitation.token_hash == _hash(token))
    ).scalar_one_or_none()
    if invitation is None:
        return InvitationCheck("invalid")
    family = get_family(tenant, invitation.family_id)
    existing = find_user_by_email(tenant, "customer", invitation.email)
    return InvitationCheck(invitation.status(clock.now()), invitation, family, existing)


def accept_as(tenant: Tenant, token: str, user: User) -> Family:
    """The signed-in customer with the invited address joins the family."""
    check = _pending(tenant, token)
    assert check.invitation is not None and check.family is not None
    if user.pool != "customer" or user.email_normalized != check.invitation.email_normalized:
        raise WrongAccount()
    _join(tenant, check, user, spent=False)
    return check.family


def accept_with_new_account(tenant: Tenant, token: str, *, name: str | None, password: str, confirm: str) -> User:
    """Create the invited person's customer account (the link verifies the address) and join.
    The invitation is spent first, so of two clicks at once only one creates the account."""
    check = _pending(tenant, token)
    assert check.invitation is not None
    if check.existing is not None:
        raise Conflict("An account with this email address exists: sign in to accept.")
    check_password_strength(password, check.invitation.email)
    if password != confirm:
        raise FamilyError("The two passwords do not match.")
    _spend(tenant, check.invitation)
    user = create_user(tenant, email=check.invitation.email, password=password, name=name or None, pool="customer",
                       email_verified=True)
    _join(tenant, check, user)
    return user


def _pending(tenant: Tenant, token: str) -> InvitationCheck:
    check = check_invitation(tenant, token)
    if check.status != "pending":
        raise InvitationUnusable(check.status)
    return check


def _spend(tenant: Tenant, invitation: FamilyInvitation) -> None:
    """Mark the invitation accepted unless it no longer is pending: of concurrent uses one wins."""
    now = clock.now()
    spent = db.session.execute(
        update(FamilyInvitation).where(
            FamilyInvitation.tenant_id == tenant.id, FamilyInvitation.id == invitation.id,
            FamilyInvitation.accepted_at.is_(None),
            FamilyInvitation.cancelled_at.is_(None), FamilyInvitation.expires_at > now,
        ).values(accepted_at=now).execution_options(synchronize_session=False)
    )
    if int(spent.rowcount) != 1:  # type: ignore[attr-defined]
        raise InvitationUnusable("accepted")  # a concurrent click, or the primary cancelled it just now


def _join(tenant: Tenant, check: InvitationCheck, user: User, *, spent: bool = True) -> None:
    invitation, family = check.invitation, check.family
    assert invitation is not None and family is not None
    if family.primary_user_id == user.id:
        raise FamilyError("You are this family's primary guardian already.")
    if invitation.access not in ACCESS_LEVELS:
        raise FamilyError("This invitation grants an access level that no longer exists.")
    if not spent:
        _spend(tenant, invitation)
    db.session.execute(update(FamilyInvitation).where(FamilyInvitation.tenant_id == tenant.id,
                                                      FamilyInvitation.id == invitation.id)
                       .values(accepted_by=user.id).execution_options(synchronize_session=False))
    add_once(FamilyMember(tenant_id=tenant.id, family_id=family.id, user_id=user.id, access=invitation.access,
                          added_at=clock.now()))
    user.email_verified = True  # the link was read at this address
    audit.record(tenant, JOINED, user_id=user.id, family=family.id, invitation=invitation.id, access=invitation.access)


# -- signing in --------------------------------------------------------------------------------

def is_secondary_anywhere(tenant: Tenant, user: User) -> bool:
    return user.pool == "customer" and db.session.execute(
        select(func.count()).select_from(FamilyMember)
        .where(FamilyMember.tenant_id == tenant.id, FamilyMember.user_id == user.id)
    ).scalar_one() > 0


def has_confirmed_adult(tenant: Tenant, user: User) -> bool:
    return db.session.execute(
        select(AdultAttestation.id).where(AdultAttestation.tenant_id == tenant.id, AdultAttestation.user_id == user.id)
    ).first() is not None


def confirm_adult(tenant: Tenant, user: User, ip: str) -> None:
    if add_once(AdultAttestation(tenant_id=tenant.id, user_id=user.id, attested_at=clock.now(), ip=ip[:45] or None)):
        audit.record(tenant, ADULT_CONFIRMED, user_id=user.id, ip=ip)


def record_adult_declined(tenant: Tenant, user: User, ip: str) -> None:
    audit.record(tenant, ADULT_DECLINED, user_id=user.id, ip=ip)


def current(tenant: Tenant, user: User, session: BrowserSession) -> Membership | None:
    """The family this session acts for: the one chosen in it while it is still the person's,
    else their only one; None when they have none, or several and have not chosen."""
    found = memberships(tenant, user)
    chosen = next((m for m in found if m.family.id == session.family_id), None)
    if chosen is not None:
        return chosen
    return found[0] if len(found) == 1 else None


def last_choice(tenant: Tenant, user: User) -> str | None:
    return db.session.execute(
        select(FamilyChoice.family_id).where(FamilyChoice.tenant_id == tenant.id, FamilyChoice.user_id == user.id)
    ).scalar_one_or_none()


def choose(tenant: Tenant, user: User, session: BrowserSession, family_id: str) -> Membership:
    """The family switcher's answer: this session now acts for `family_id` (one of the person's)."""
    chosen = next((m for m in memberships(tenant, user) if m.family.id == family_id), None)
    if chosen is None:
        raise FamilyError("Choose one of your families.")
    session.family_id = chosen.family.id
    row = db.session.execute(
        select(FamilyChoice).where(FamilyChoice.tenant_id == tenant.id, FamilyChoice.user_id == user.id)
    ).scalar_one_or_none()
    if row is None:
        add_once(FamilyChoice(tenant_id=tenant.id, user_id=user.id, family_id=chosen.family.id, chosen_at=clock.now()))
    else:
        row.family_id, row.chosen_at = chosen.family.id, clock.now()
    audit.record(tenant, CHOSEN, user_id=user.id, family=chosen.family.id, role=chosen.role)
    return chosen


def blocked(tenant: Tenant, chosen: Membership) -> bool:
    """A secondary member's family whose primary has not accepted the newest family policies."""
    if chosen.role != SECONDARY:
        return False
    primary = get_user(tenant, chosen.family.primary_user_id)
    return primary is None or bool(outdated_for(tenant, primary, FAMILY_POLICIES))


def policy_kinds_for(tenant: Tenant, user: User) -> tuple[str, ...]:
    """Which tenant policies this person accepts (idp.policies' audience): primary guardians, family policies."""
    if user.pool != "customer":
        return ()
    return FAMILY_POLICIES if family_of_primary(tenant, user.id) is not None else ()


# -- helpers -----------------------------------------------------------------------------------

def _hash(token: str) -> str:
    return keyring().hash_token(f"family-invitation|{token}")


def _lifetime(tenant: Tenant) -> timedelta:
    return timedelta(seconds=tenant.invitation_link_seconds)


def _describe(tenant: Tenant) -> str:
    return describe_duration(_lifetime(tenant))
