"""Grants, codes and refresh tokens: issuing, spending, rotating and revoking.

A grant is what one person allowed one client in one sign-in. Its refresh tokens follow the
browser session rules (docs/architecture.md §Sessions): they idle out with the tenant's idle timeout, or
live until the session's hard end with "Stay logged in"; logging out revokes them. Codes and
refresh tokens are stored only as keyed hashes and spent with a conditional UPDATE, so of two
concurrent uses exactly one wins; a second use of either revokes the whole grant (RFC 9700 §4.14,
RFC 6749 §4.1.2).

A grant's last use is when its current refresh token was issued: every use spends the token and
issues the next, so the idle timer slides with each refresh without writing to the grant.

The refresh path is the busiest request there is, so it runs statements built once. A token is
spent only if it is unspent, the presenting client's and its grant live (one set of criteria,
in SQL). On PostgreSQL one statement spends it, stores the next one and loads the grant with its
person; SQLite has no data-modifying CTEs, so there it is a conditional UPDATE, a SELECT and an
INSERT in one transaction (`idp.db.writes_in_ctes` chooses).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, NoReturn

from sqlalchemy import and_, bindparam, insert, or_, select, update

from idp import clock, metrics
from idp.accounts.models import User
from idp.crypto import keyring, random_token
from idp.db import columns_of, db, detached_instance, execute_core, new_id, writes_in_ctes
from idp.errors import PortcullisError
from idp.oauth.models import AuthorizationCode, Grant, RefreshToken
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant
from idp.unit_of_work import keep_on_refusal

CODE_LIFETIME = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 256


class GrantError(PortcullisError):
    error = "invalid_grant"
    """The code or refresh token is unknown, spent, expired, revoked or another client's."""


def start_grant(
    tenant: Tenant, *, client_pk: str, user_id: str | None, session: BrowserSession | None, scope: str,
    issuer: str, nonce: str | None = None, amr: str = "pwd", acr: str | None = None, idp: str | None = None,
    family_id: str | None = None,
) -> Grant:
    now = clock.now()
    grant = Grant(
        tenant_id=tenant.id, client_pk=client_pk, user_id=user_id, scope=scope, issuer=issuer, nonce=nonce,
        session_id=session.id if session else None, auth_time=session.auth_time if session else None,
        persistent=bool(session and session.persistent), expires_at=session.expires_at if session else None,
        amr=amr, acr=acr, idp=idp, family_id=family_id, created_at=now,
    )
    db.session.add(grant)
    db.session.flush()
    return grant


def issue_code(
    tenant: Tenant, grant: Grant, *, redirect_uri: str, code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    code = random_token(32)
    db.session.add(AuthorizationCode(
        tenant_id=tenant.id, grant_id=grant.id, code_hash=keyring().hash_token(code),
        redirect_uri=redirect_uri, code_challenge=code_challenge, code_challenge_method=code_challenge_method,
        expires_at=clock.now() + CODE_LIFETIME,
    ))
    return code


def spend_code(tenant: Tenant, code: str, client_pk: str) -> tuple[AuthorizationCode, Grant]:
    """The code and its grant, now spent. A replayed code revokes its grant and everything from it."""
    found = _find_code(tenant, code)
    if found is None:
        raise GrantError("unknown code")
    row, grant = found
    if grant.client_pk != client_pk:
        raise GrantError("the code was issued to another client")
    now = clock.now()
    if not _spend_once(AuthorizationCode, AuthorizationCode.used_at, row.id, now):
        revoke_grant(grant)
        keep_on_refusal()  # the refusal must not undo the revocation
        raise GrantError("the code was already used")
    if row.expires_at <= now or grant.revoked_at is not None:
        raise GrantError("the code has expired")
    return row, grant


_INSERT_REFRESH_TOKEN = insert(RefreshToken.__table__)

_TOKENS = RefreshToken.__table__
_GRANTS = Grant.__table__
# Spent only if it is unspent and belongs to a grant of the presenting client: another client's
# token is refused without being spent (the rightful client's next use must not read as reuse).
_UNSPENT = (_TOKENS.c.tenant_id == bindparam("tenant"), _TOKENS.c.token_hash == bindparam("hash"),
            _TOKENS.c.spent_at.is_(None))
_OF_CLIENT = (  # correlated on the grant's primary key: one index probe
    _GRANTS.c.id == _TOKENS.c.grant_id, _GRANTS.c.tenant_id == bindparam("tenant"),
    _GRANTS.c.client_pk == bindparam("client"),
)
# The rule of `grant_is_live`, in SQL (the tests of both run on SQLite and PostgreSQL and must agree).
_LIVE = (
    _GRANTS.c.revoked_at.is_(None),
    or_(_GRANTS.c.expires_at.is_(None), _GRANTS.c.expires_at > bindparam("now")),
    or_(_GRANTS.c.session_id.is_(None), _GRANTS.c.persistent.is_(True),
        _TOKENS.c.created_at > bindparam("idle_cutoff")),
)

# Spent only if unspent, the presenting client's, and its grant live: one rule for both forms.
_SPENDABLE = (*_UNSPENT, select(_GRANTS.c.id).where(*_OF_CLIENT, *_LIVE).exists())

# SQLite (no data-modifying CTEs): spend, then load the grant; `issue_refresh_token` stores the next.
_SPEND_REFRESH_TOKEN = update(_TOKENS).where(*_SPENDABLE).values(spent_at=bindparam("now")).returning(
    _TOKENS.c.grant_id)

_GRANT_WITH_USER = (
    select(Grant, User)
    .outerjoin(User, and_(User.id == Grant.user_id, User.tenant_id == Grant.tenant_id))
    .where(Grant.tenant_id == bindparam("tenant"), Grant.id == bindparam("grant"))
)

# PostgreSQL: spend, rotate and load in one statement (data-modifying CTEs), so a refresh is one
# round trip after the client's.
_SPENT = update(_TOKENS).where(*_SPENDABLE).values(spent_at=bindparam("now")).returning(
    _TOKENS.c.grant_id).cte("spent")
_NEXT = insert(_TOKENS).from_select(
    ["id", "tenant_id", "grant_id", "token_hash", "created_at"],
    select(
        bindparam("next_id", type_=_TOKENS.c.id.type), bindparam("tenant", type_=_TOKENS.c.tenant_id.type),
        _SPENT.c.grant_id, bindparam("next_hash", type_=_TOKENS.c.token_hash.type),
        bindparam("now", type_=_TOKENS.c.created_at.type),
    ),
).cte("next")
_USERS = User.__table__
_GRANT = columns_of(Grant)
# What the token response needs of the person (claims, landing page); the rest loads if asked.
_PERSON = columns_of(User, "id", "tenant_id", "sub", "pool", "name", "email", "email_verified", "landing_page",
                     "permissions_json")
_SPEND_AND_ROTATE = (  # a Core statement (idp.db.execute_core): the busiest statement there is
    select(*_GRANT.columns, *_PERSON.columns)
    .select_from(_SPENT)
    .join(_GRANTS, and_(_GRANTS.c.id == _SPENT.c.grant_id, _GRANTS.c.tenant_id == bindparam("tenant")))
    .outerjoin(_USERS, and_(_USERS.c.id == _GRANTS.c.user_id, _USERS.c.tenant_id == _GRANTS.c.tenant_id))
    .add_cte(_NEXT)
)


class SpentRefreshToken(NamedTuple):
    """On PostgreSQL the grant and its person are read-only snapshots (`idp.db.detached_instance`):
    the response reads them, nothing changes them, and they cost the commit nothing."""

    grant: Grant
    user: User | None
    next_token: str | None  # already stored (PostgreSQL), or None: `issue_refresh_token` stores it


def issue_refresh_token(tenant: Tenant, grant: Grant) -> str:
    token = random_token(32)
    db.session.connection().execute(_INSERT_REFRESH_TOKEN, {
        "id": new_id(), "tenant_id": tenant.id, "grant_id": grant.id, "token_hash": keyring().hash_token(token),
        "created_at": clock.now(), "spent_at": None,
    })
    return token


def spend_refresh_token(tenant: Tenant, token: str, client_pk: str) -> SpentRefreshToken:
    """The live grant of `token` and its person; the token is now spent (where the database
    allows, its successor is stored in the same statement). Reuse of a spent token revokes the
    grant."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise GrantError("unknown refresh token")
    token_hash = keyring().hash_token(token)
    now = clock.now()
    params = {"tenant": tenant.id, "hash": token_hash, "client": client_pk, "now": now,
              "idle_cutoff": now - timedelta(seconds=tenant.idle_timeout_seconds)}
    if writes_in_ctes():
        next_token = random_token(32)
        row = execute_core(_SPEND_AND_ROTATE, {
            **params, "next_id": new_id(), "next_hash": keyring().hash_token(next_token),
        }).one_or_none()
        grant_values = _GRANT.values(row) if row is not None else None
        if row is None or grant_values is None:
            _refuse_refresh_token(tenant, token_hash, client_pk)
        user_values = _PERSON.values(row, len(_GRANT.keys))
        user = detached_instance(User, user_values) if user_values is not None else None
        return SpentRefreshToken(detached_instance(Grant, grant_values), user, next_token)
    spent = db.session.execute(_SPEND_REFRESH_TOKEN, params).one_or_none()
    if spent is None:
        _refuse_refresh_token(tenant, token_hash, client_pk)
    grant, user = db.session.execute(_GRANT_WITH_USER, {"tenant": tenant.id, "grant": spent.grant_id}).one()
    return SpentRefreshToken(grant, user, None)


def _refuse_refresh_token(tenant: Tenant, token_hash: str, client_pk: str) -> NoReturn:
    """Why a refresh token could not be spent (always raises); a spent one revokes its grant."""
    row = db.session.execute(
        select(RefreshToken).where(RefreshToken.tenant_id == tenant.id, RefreshToken.token_hash == token_hash)
    ).scalar_one_or_none()
    if row is None:
        raise GrantError("unknown refresh token")
    grant = db.session.get(Grant, row.grant_id)
    if grant is None or grant.client_pk != client_pk:
        raise GrantError("the refresh token was issued to another client")
    if row.spent_at is not None:
        revoke_grant(grant)
        metrics.REFRESH_REUSE.inc()
        keep_on_refusal()  # the refusal must not undo the revocation
        raise GrantError("the refresh token was already used")
    raise GrantError("the grant has ended")  # unspent: only a live grant's token is spent


def find_grant_of_refresh_token(tenant: Tenant, token: str) -> tuple[Grant, datetime] | None:
    """The grant of an unspent refresh token, and when the token was issued (the grant's last use)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.execute(
        select(Grant, RefreshToken.created_at).join(RefreshToken, RefreshToken.grant_id == Grant.id).where(
            RefreshToken.tenant_id == tenant.id,
            RefreshToken.token_hash == keyring().hash_token(token),
            RefreshToken.spent_at.is_(None),
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def grant_is_live(tenant: Tenant, grant: Grant, last_used: datetime, now: datetime | None = None) -> bool:
    """Not revoked, within the hard end, and (unless "Stay logged in") used within the idle timeout;
    `last_used` is when the grant's current refresh token was issued."""
    now = now or clock.now()
    if grant.revoked_at is not None:
        return False
    if grant.expires_at is not None and grant.expires_at <= now:
        return False
    if grant.session_id is not None and not grant.persistent:
        return now - last_used < timedelta(seconds=tenant.idle_timeout_seconds)
    return True


def revoke_grant(grant: Grant) -> None:
    if grant.revoked_at is None:
        grant.revoked_at = clock.now()


def revoke_session_grants(tenant: Tenant, session_id: str) -> list[Grant]:
    """Revoke every grant made in a browser session (log out); returns them for back-channel logout."""
    grants = list(db.session.execute(
        select(Grant).where(Grant.tenant_id == tenant.id, Grant.session_id == session_id, Grant.revoked_at.is_(None))
    ).scalars())
    for grant in grants:
        revoke_grant(grant)
    return grants


def revoke_user_grants(tenant: Tenant, user_id: str, family_id: str | None = None) -> list[Grant]:
    """Revoke every live grant of a person (password changed, account disabled), or only those
    made for one family (access to it ended); returns them."""
    statement = select(Grant).where(Grant.tenant_id == tenant.id, Grant.user_id == user_id,
                                    Grant.revoked_at.is_(None))
    if family_id is not None:
        statement = statement.where(Grant.family_id == family_id)
    grants = list(db.session.execute(statement).scalars())
    for grant in grants:
        revoke_grant(grant)
    return grants


def _spend_once(model: type[AuthorizationCode | RefreshToken], spent_column: Any, row_id: str,
                now: datetime) -> bool:
    """Mark the row spent unless it already was: of concurrent callers exactly one gets True."""
    result = db.session.execute(
        update(model).where(model.id == row_id, spent_column.is_(None)).values({spent_column: now})
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def _find_code(tenant: Tenant, code: str) -> tuple[AuthorizationCode, Grant] | None:
    """The code and its grant, in one statement."""
    if not code or len(code) > MAX_TOKEN_LENGTH:
        return None
    found = db.session.execute(
        select(AuthorizationCode, Grant).join(Grant, Grant.id == AuthorizationCode.grant_id).where(
            AuthorizationCode.tenant_id == tenant.id, AuthorizationCode.code_hash == keyring().hash_token(code),
            Grant.tenant_id == tenant.id,
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])
