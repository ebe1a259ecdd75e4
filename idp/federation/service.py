"""Signing in through a connection: leave for the upstream, come back, decide who it is.

1. `depart` (a POST from the sign-in page): a `FederatedSignIn` row holds the state's hash, the
   nonce and the PKCE verifier (sealed), the pending authorization request and the issuer form
   the person is on; a random value goes into a cookie on that form (`browser_hash`), so only
   the browser that left can finish (no login CSRF).
2. `come_back` (the upstream's redirect to the one registered callback URI, on the path issuer
   form): the code is redeemed and the ID token checked (idp/federation/upstream.py); the
   identity is sealed into the row. Then the browser goes on to the form it started at.
3. `finish` (there, with the cookie): the row is spent (one UPDATE, so a race has one winner) and
   `resolve` decides, by the linking rules (docs/decisions/federation-linking.md): a linked
   identity signs its account in; a trusted email links to the one account of the pool with that
   email; otherwise the person proves the account with its password (`prove_and_link`), or, with
   `jit` and a claimed domain, an account is made; anything else is refused. Each decision is an
   audit event.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from idp import clock, metrics
from idp.accounts.models import User
from idp.accounts.service import check_password, create_user, find_user_by_email, get_user
from idp.audit import service as audit
from idp.crypto import constant_time_equals, keyring, random_token
from idp.db import add_once, db
from idp.errors import PortcullisError
from idp.federation.connections import client_secret, email_domains, upstream_of
from idp.federation.models import Connection, FederatedIdentity, FederatedSignIn, SamlAssertion
from idp.federation.upstream import UpstreamIdentity, UpstreamRefused, authorization_url, redeem
from idp.oauth.logout import replace_session
from idp.sessions.models import BrowserSession
from idp.sessions.service import StartedSession, renew_proof, start_session
from idp.tenancy.models import Tenant
from idp.throttling import service as throttle
from idp.unit_of_work import keep_on_refusal

if TYPE_CHECKING:  # pysaml2 is imported by SAML work only (it takes most of a second)
    from idp.federation.saml import ServiceProvider

TRIP_SECONDS = 600  # from leaving for the upstream to finishing here
AMR_FEDERATED = "fed"

LINKED = "federation.linked"
CREATED = "federation.account_created"
SIGNED_IN = "federation.signed_in"
REFUSED = "federation.refused"

UPSTREAM_ERRORS = {
    "access_denied": "You did not allow the sign-in at {name}.",
    "login_required": "{name} asked you to sign in first.",
    "consent_required": "{name} needs your consent first.",
    "interaction_required": "{name} needs you to do something first.",
    "temporarily_unavailable": "{name} is not available right now. Try again in a moment.",
}


class FederationRefused(PortcullisError):
    status = 403
    error = "access_denied"
    title = "You cannot sign in this way"
    message = "This sign-in cannot be used here."


class WrongPassword(PortcullisError):
    status = 401
    error = "invalid_credentials"
    message = "That password is not right. Check it and try again."


class TripExpired(UpstreamRefused):
    title = "This sign-in has expired"
    message = "This sign-in has expired or was already finished. Start again from the sign-in page."


@dataclass(frozen=True)
class Departure:
    url: str
    browser_token: str  # the cookie that lets this browser, and no other, finish


@dataclass(frozen=True)
class SignedIn:
    user: User
    started: StartedSession


@dataclass(frozen=True)
class NeedsPassword:
    """The upstream vouches for an email an account here has, but cannot be trusted with it."""

    user: User
    connection: Connection


Outcome = SignedIn | NeedsPassword


def depart(tenant: Tenant, connection: Connection, *, callback_uri: str, return_base: str,
           request_id: str | None, persistent: bool, login_hint: str | None = None,
           sp: ServiceProvider | None = None) -> Departure:
    """For OIDC kinds the nonce is ours and the PKCE verifier sealed; for SAML (`sp` given) the
    "nonce" is the AuthnRequest's id, which the Response's InResponseTo must name."""
    state, browser, nonce, verifier = random_token(32), random_token(32), random_token(24), random_token(48)
    now = clock.now()
    trip = FederatedSignIn(
        tenant_id=tenant.id, connection_id=connection.id, state_hash=keyring().hash_token(state),
        browser_hash=keyring().hash_token(browser), nonce=nonce, code_verifier_sealed="", request_id=request_id,
        return_base=return_base, persistent=persistent, created_at=now,
        expires_at=now + timedelta(seconds=TRIP_SECONDS),
    )
    db.session.add(trip)
    db.session.flush()
    trip.code_verifier_sealed = keyring().seal(verifier.encode(), _context(trip))
    if sp is not None:
        from idp.federation import saml

        trip.nonce, url = saml.authn_request(sp, relay_state=state)
        return Departure(url, browser)
    url = authorization_url(upstream_of(connection), scope=connection.scope, redirect_uri=callback_uri, state=state,
                            nonce=nonce, verifier=verifier, login_hint=login_hint)
    return Departure(url, browser)


def come_back_saml(tenant: Tenant, connection: Connection, sp: ServiceProvider, *, relay_state: str,
                   saml_response: str) -> FederatedSignIn:
    """The IdP's POSTed Response (its RelayState is our state): checked, its assertion id
    remembered (a replay is refused on every node), the identity kept for `finish`."""
    trip = _trip(tenant, relay_state)
    if trip is None or trip.connection_id != connection.id or trip.identity_sealed is not None:
        raise TripExpired()
    from idp.federation import saml

    assertion = saml.read_response(sp, saml_response, trip.nonce)
    if not add_once(SamlAssertion(tenant_id=tenant.id, connection_id=connection.id, assertion_id=assertion.id[:200],
                                  expires_at=max(assertion.expires_at, clock.now()))):
        audit.record(tenant, REFUSED, user_id=None, connection=connection.slug, reason="saml_replay")
        keep_on_refusal()
        raise UpstreamRefused("This answer of the identity provider was already used.")
    payload = {key: value for key, value in asdict(assertion.identity).items() if key != "claims"}
    trip.identity_sealed = keyring().seal(json.dumps(payload).encode(), _context(trip))
    return trip


def come_back(tenant: Tenant, connection: Connection, *, state: str, code: str | None, error: str | None,
              callback_uri: str) -> FederatedSignIn:
    """The upstream's answer: checked, and the identity kept for `finish`. Raises UpstreamRefused."""
    trip = _trip(tenant, state)
    if trip is None or trip.connection_id != connection.id or trip.identity_sealed is not None:
        raise TripExpired()
    if error is not None or not code:
        trip.used_at = clock.now()
        keep_on_refusal()
        audit.record(tenant, REFUSED, user_id=None, connection=connection.slug, reason=f"upstream:{error}"[:80])
        template = UPSTREAM_ERRORS.get(error or "", "{name} did not complete the sign-in.")
        raise UpstreamRefused(template.format(name=connection.name))
    verifier = keyring().unseal(trip.code_verifier_sealed, _context(trip)).decode()
    identity = redeem(upstream_of(connection), client_secret(connection), code=code[:2000], redirect_uri=callback_uri,
                      verifier=verifier, nonce=trip.nonce)
    payload = {key: value for key, value in asdict(identity).items() if key != "claims"}
    trip.identity_sealed = keyring().seal(json.dumps(payload).encode(), _context(trip))
    return trip


def finish(tenant: Tenant, *, state: str, browser_token: str, previous: BrowserSession | None,
           ip: str) -> tuple[FederatedSignIn, Outcome]:
    """In the browser that left: spend the trip and decide who this is."""
    trip, connection, identity = _returned_trip(tenant, state, browser_token)
    user = resolve(tenant, connection, identity, ip=ip)
    if isinstance(user, NeedsPassword):
        return trip, user
    _spend(trip)
    return trip, SignedIn(user, _start(tenant, user, trip, connection, identity, previous))


def prove_and_link(tenant: Tenant, *, state: str, browser_token: str, password: str,
                   previous: BrowserSession | None, ip: str) -> tuple[FederatedSignIn, SignedIn]:
    """The person proves the local account with its password; then the identity is linked."""
    trip, connection, identity = _returned_trip(tenant, state, browser_token)
    outcome = resolve(tenant, connection, identity, ip=ip)
    if not isinstance(outcome, NeedsPassword):  # linked meanwhile (another tab): nothing to prove
        _spend(trip)
        return trip, SignedIn(outcome, _start(tenant, outcome, trip, connection, identity, previous))
    account = outcome.user
    key = f"user|{account.id}"
    counted = throttle.check_failures(tenant, key, ip)
    if check_password(account, password) is None:
        throttle.record_failure(tenant, key, ip)
        keep_on_refusal()
        raise WrongPassword()
    throttle.record_success(tenant, key, counted)
    _link(tenant, connection, identity, account, ip=ip, reason="password_proved")
    _spend(trip)
    return trip, SignedIn(account, _start(tenant, account, trip, connection, identity, previous))


def awaiting_password(tenant: Tenant, *, state: str, browser_token: str) -> tuple[Connection, str | None]:
    """For the link page: which connection and email wait for the account's password."""
    _, connection, identity = _returned_trip(tenant, state, browser_token)
    return connection, identity.email


def resolve(tenant: Tenant, connection: Connection, identity: UpstreamIdentity, *, ip: str) -> User | NeedsPassword:
    linked = db.session.execute(select(FederatedIdentity).where(
        FederatedIdentity.tenant_id == tenant.id, FederatedIdentity.connection_id == connection.id,
        FederatedIdentity.subject == identity.subject)).scalar_one_or_none()
    if linked is not None:
        user = get_user(tenant, linked.user_id)
        if user is None or user.pool != connection.pool:
            raise _refuse(tenant, connection, identity, ip, "account_gone")
        linked.last_used_at = clock.now()
        _trust_email(user, identity)
        return user
    if identity.email is None:
        raise _refuse(tenant, connection, identity, ip, "no_email",
                      f"{connection.name} did not tell us your email address.")
    account = find_user_by_email(tenant, connection.pool, identity.email)
    if account is not None:
        if identity.email_trusted:
            _link(tenant, connection, identity, account, ip=ip, reason="trusted_email")
            return account
        return NeedsPassword(account, connection)
    domain = identity.email.rpartition("@")[2]
    if connection.jit and identity.email_trusted and domain in email_domains(connection):
        user = create_user(tenant, email=identity.email, name=identity.name, pool=connection.pool,
                           email_verified=True)
        audit.record(tenant, CREATED, user_id=user.id, ip=ip, connection=connection.slug)
        _link(tenant, connection, identity, user, ip=ip, reason="created")
        return user
    raise _refuse(tenant, connection, identity, ip, "no_account",
                  f"There is no account here for {identity.email}. Ask your administrator to add you.")


def _link(tenant: Tenant, connection: Connection, identity: UpstreamIdentity, user: User, *, ip: str,
          reason: str) -> None:
    now = clock.now()
    db.session.add(FederatedIdentity(tenant_id=tenant.id, connection_id=connection.id, subject=identity.subject,
                                     user_id=user.id, email=identity.email, created_at=now, last_used_at=now))
    _trust_email(user, identity)
    audit.record(tenant, LINKED, user_id=user.id, ip=ip, connection=connection.slug, reason=reason)


def _trust_email(user: User, identity: UpstreamIdentity) -> None:
    """A trusted upstream email that is this account's marks it verified."""
    if identity.email_trusted and identity.email and user.email_normalized == identity.email:
        user.email_verified = True


def _refuse(tenant: Tenant, connection: Connection, identity: UpstreamIdentity, ip: str, reason: str,
            message: str | None = None) -> FederationRefused:
    audit.record(tenant, REFUSED, user_id=None, ip=ip, connection=connection.slug, reason=reason,
                 email=identity.email)
    keep_on_refusal()  # the audit event is the point of the refusal
    return FederationRefused(message)


def _start(tenant: Tenant, user: User, trip: FederatedSignIn, connection: Connection, identity: UpstreamIdentity,
           previous: BrowserSession | None) -> StartedSession:
    """A session whose amr is "fed", with "mfa" when the connection trusts the upstream's own
    multi-factor sign-in and the upstream says it did one (then no TOTP step here)."""
    upstream_mfa = connection.trust_upstream_mfa and "mfa" in identity.upstream_amr
    amr = f"{AMR_FEDERATED} mfa" if upstream_mfa else AMR_FEDERATED
    audit.record(tenant, SIGNED_IN, user_id=user.id, connection=connection.slug, upstream_mfa=upstream_mfa)
    metrics.sign_in("federated")
    if previous is not None and previous.user_id == user.id:
        return renew_proof(tenant, previous, persistent=trip.persistent, amr=amr, idp=connection.slug)
    if previous is not None:
        replace_session(tenant, previous)
    return start_session(tenant, user, persistent=trip.persistent, amr=amr, idp=connection.slug)


def _trip(tenant: Tenant, state: str) -> FederatedSignIn | None:
    if not state or len(state) > 100:
        return None
    trip = db.session.execute(select(FederatedSignIn).where(
        FederatedSignIn.tenant_id == tenant.id, FederatedSignIn.state_hash == keyring().hash_token(state),
    )).scalar_one_or_none()
    if trip is None or trip.used_at is not None or trip.expires_at <= clock.now():
        return None
    return trip


def _returned_trip(tenant: Tenant, state: str, browser_token: str) -> tuple[FederatedSignIn, Connection,
                                                                              UpstreamIdentity]:
    trip = _trip(tenant, state)
    if (trip is None or trip.identity_sealed is None or not browser_token or len(browser_token) > 100
            or not constant_time_equals(keyring().hash_token(browser_token), trip.browser_hash)):
        raise TripExpired()
    connection = db.session.get(Connection, trip.connection_id)
    if connection is None or connection.tenant_id != tenant.id:
        raise TripExpired()
    payload: dict[str, Any] = json.loads(keyring().unseal(trip.identity_sealed, _context(trip)))
    payload["upstream_amr"] = tuple(payload.get("upstream_amr", ()))
    return trip, connection, UpstreamIdentity(**payload)


def _spend(trip: FederatedSignIn) -> None:
    """Mark the trip used; only one request can (two tabs, a double click): the other is refused."""
    now = clock.now()
    spent = db.session.execute(update(FederatedSignIn).where(
        FederatedSignIn.id == trip.id, FederatedSignIn.used_at.is_(None)).values(used_at=now))
    if int(spent.rowcount) != 1:  # type: ignore[attr-defined]
        raise TripExpired()


def _context(trip: FederatedSignIn) -> str:
    return f"federated-sign-in|{trip.tenant_id}|{trip.id}"
