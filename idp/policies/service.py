"""Publishing documents and recording who accepted which version.

"Newer" means published later: version names are the publisher's labels ("2025-01", "v7") and
are never compared as strings. A person must accept the newest version of each kind that applies
to them once: everyone the platform's terms and privacy policy; a tenant's own kinds (family
policies) only those its registered audience names (`init_app`: families, above us, decide that
primary guardians accept family policies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import and_, exists, or_, select

from idp import clock
from idp.accounts.models import User
from idp.audit import service as audit
from idp.db import add_once, db
from idp.errors import Conflict, InvalidInput
from idp.policies.models import KINDS, PLATFORM_KINDS, TENANT_KINDS, PolicyAcceptance, PolicyDocument
from idp.tenancy.models import Tenant

MAX_VERSION_LENGTH = 64
MAX_URL_LENGTH = 2000
AUDIENCE_KEY = "idp.policy_audience"

Audience = Callable[[Tenant, User], tuple[str, ...]]  # the tenant kinds this person must accept


def init_app(app: Flask, audience: Audience) -> None:
    app.extensions[AUDIENCE_KEY] = audience


def kinds_for(tenant: Tenant, user: User) -> tuple[str, ...]:
    audience: Audience | None = current_app.extensions.get(AUDIENCE_KEY)
    extra = audience(tenant, user) if audience is not None else ()
    return PLATFORM_KINDS + tuple(kind for kind in TENANT_KINDS if kind in extra)


class PolicyError(InvalidInput):
    """A document cannot be published as asked; the message says why."""


class StaleDocuments(Conflict):
    """The form accepted documents that are not (or no longer) the ones waiting for acceptance."""

    message = "The documents changed while this page was open. Please read the current versions below."


@dataclass(frozen=True)
class Accepted:
    kind: str
    version: str
    accepted_at: datetime
    ip: str | None


def publish(kind: str, version: str, url: str, tenant: Tenant | None = None) -> PolicyDocument:
    """Publish a new version (the unit of work commits): everyone it applies to is asked to accept
    it at next sign-in. Platform kinds take no tenant; a tenant's own kinds need one."""
    if kind not in KINDS:
        raise PolicyError(f"kind must be one of {', '.join(KINDS)}")
    if kind in TENANT_KINDS and tenant is None:
        raise PolicyError(f"{kind} policies belong to a tenant: name it with --tenant")
    if kind in PLATFORM_KINDS and tenant is not None:
        raise PolicyError(f"{kind} is the platform's, for every tenant: publish it without --tenant")
    version = version.strip()
    if not version or len(version) > MAX_VERSION_LENGTH or any(ch.isspace() for ch in version):
        raise PolicyError(f"a version is 1 to {MAX_VERSION_LENGTH} characters without spaces")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or len(url) > MAX_URL_LENGTH:
        raise PolicyError("the URL must be an absolute http(s) URL")
    if _document(kind, version, tenant) is not None:
        raise PolicyError(f"{kind} version {version} is already published")
    document = PolicyDocument(tenant_id=tenant.id if tenant else None, kind=kind, version=version, url=url.strip(),
                              published_at=clock.now())
    db.session.add(document)
    db.session.flush()
    return document


def latest(kind: str, tenant: Tenant | None = None) -> PolicyDocument | None:
    """The newest version of a platform kind, or of a tenant kind at `tenant`."""
    owner = PolicyDocument.tenant_id.is_(None) if kind in PLATFORM_KINDS else PolicyDocument.tenant_id == (
        tenant.id if tenant is not None else None)
    return db.session.execute(
        select(PolicyDocument).where(PolicyDocument.kind == kind, owner)
        .order_by(PolicyDocument.published_at.desc()).limit(1)
    ).scalar_one_or_none()


def outdated_for(tenant: Tenant, user: User, kinds: tuple[str, ...] | None = None) -> list[PolicyDocument]:
    """The newest version of each kind (that applies to this person, unless `kinds` names them)
    that this person has not accepted yet: one statement, asked at every sign-in."""
    wanted = kinds if kinds is not None else kinds_for(tenant, user)
    if not wanted:
        return []
    accepted = exists().where(PolicyAcceptance.tenant_id == tenant.id, PolicyAcceptance.user_id == user.id,
                              PolicyAcceptance.document_id == PolicyDocument.id)
    rows = db.session.execute(
        select(PolicyDocument, accepted.label("accepted")).where(or_(
            and_(PolicyDocument.tenant_id.is_(None), PolicyDocument.kind.in_(
                [kind for kind in wanted if kind in PLATFORM_KINDS])),
            and_(PolicyDocument.tenant_id == tenant.id, PolicyDocument.kind.in_(
                [kind for kind in wanted if kind in TENANT_KINDS])),
        )).order_by(PolicyDocument.published_at.desc())
    ).all()
    newest: dict[str, tuple[PolicyDocument, bool]] = {}
    for document, was_accepted in rows:
        newest.setdefault(document.kind, (document, bool(was_accepted)))  # the first row of a kind is its newest
    return [newest[kind][0] for kind in wanted if kind in newest and not newest[kind][1]]


def accepted_versions(tenant: Tenant, user: User) -> dict[str, Accepted]:
    """The most recent acceptance of each kind."""
    rows = db.session.execute(
        select(PolicyAcceptance).where(PolicyAcceptance.tenant_id == tenant.id, PolicyAcceptance.user_id == user.id)
        .order_by(PolicyAcceptance.accepted_at)
    ).scalars()
    return {row.kind: Accepted(row.kind, row.version, row.accepted_at, row.ip) for row in rows}


def accept(tenant: Tenant, user: User, document_ids: list[str], *, ip: str, newsletter: bool) -> None:
    """Record acceptance of exactly the documents waiting (the unit of work commits).

    A form for other documents — an old version, a made-up id, or a page opened before a newer
    version was published — raises StaleDocuments and records nothing.
    """
    waiting = outdated_for(tenant, user)
    if not waiting or set(document_ids) != {doc.id for doc in waiting}:
        raise StaleDocuments()
    now = clock.now()
    for doc in waiting:
        if not add_once(PolicyAcceptance(
            tenant_id=tenant.id, user_id=user.id, document_id=doc.id, kind=doc.kind, version=doc.version,
            accepted_at=now, ip=ip[:45] or None,
        )):
            continue  # the same form submitted twice at once: accepted already
        audit.record(tenant, audit.TERMS_ACCEPTED, user_id=user.id, ip=ip, kind=doc.kind, version=doc.version)
    if newsletter and user.email and not user.newsletter:
        user.newsletter = True
        audit.record(tenant, audit.NEWSLETTER_SUBSCRIBED, user_id=user.id, ip=ip)


def record_declined(tenant: Tenant, user: User, documents: list[PolicyDocument], ip: str) -> None:
    for doc in documents:
        audit.record(tenant, audit.TERMS_DECLINED, user_id=user.id, ip=ip, kind=doc.kind, version=doc.version)


def _document(kind: str, version: str, tenant: Tenant | None) -> PolicyDocument | None:
    owner = PolicyDocument.tenant_id.is_(None) if tenant is None else PolicyDocument.tenant_id == tenant.id
    return db.session.execute(
        select(PolicyDocument).where(PolicyDocument.kind == kind, PolicyDocument.version == version, owner)
    ).scalar_one_or_none()
