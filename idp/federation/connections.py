"""A tenant's connections: add, list, remove, and which one an email domain belongs to.

A connection's client secret is sealed at rest with the master key, bound to its row; nothing
that lists connections ever shows it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from idp import clock
from idp.config import Config
from idp.crypto import keyring
from idp.db import db, new_id, remembered
from idp.errors import Conflict, InvalidInput, NotFound
from idp.federation.models import KINDS, OIDC_KINDS, POOLS, Connection, ConnectionDomain, SamlSettings
from idp.federation.upstream import Upstream, UpstreamError, default_discovery_url, fetch
from idp.tenancy.issuers import path_issuer
from idp.tenancy.models import Tenant

if TYPE_CHECKING:  # pysaml2 takes most of a second to import: only SAML work loads it
    from idp.federation.saml import ServiceProvider

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ENTRA_TENANT = re.compile(r"^(?:common|organizations|consumers|[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}|"
                          r"[a-z0-9.-]{1,200}\.[a-z]{2,63})$")
MAX_NAME = 100
DEFAULT_SCOPE = "openid email profile"


@dataclass(frozen=True)
class NewConnection:
    kind: str
    name: str
    client_id: str = ""  # oidc kinds
    client_secret: str = ""
    discovery_url: str | None = None
    entra_tenant: str | None = None
    hosted_domains: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()
    sso_required: bool = False
    jit: bool = False
    trust_upstream_mfa: bool = False
    pool: str = "staff"
    scope: str = DEFAULT_SCOPE
    slug: str | None = None
    metadata_xml: str | None = None  # saml: the IdP's metadata, given…
    metadata_url: str | None = None  # …or fetched from here when the connection is added
    email_attribute: str | None = None  # saml: the attribute holding the email (default: the usual names)


def add_connection(tenant: Tenant, new: NewConnection) -> Connection:
    """Validate and store a connection (the unit of work commits); raises InvalidInput or
    Conflict (a slug or an email domain this tenant already has)."""
    fields, domains = _validated(tenant, new, existing=None)
    metadata = _saml_metadata(new) if fields["kind"] == "saml" else None  # checked before anything is added
    connection = Connection(id=new_id(), tenant_id=tenant.id, created_at=clock.now(), **fields)
    if connection.kind in OIDC_KINDS:
        connection.client_secret_sealed = keyring().seal(new.client_secret.encode(), _secret_context(connection))
    db.session.add(connection)
    if metadata is not None:
        from idp.federation import saml

        key_pem, cert_pem = saml.new_key_pair(f"{tenant.account} {connection.slug}")
        db.session.add(SamlSettings(
            tenant_id=tenant.id, connection_id=connection.id, idp_entity_id=saml.idp_entity_id(metadata),
            idp_metadata=metadata, metadata_url=new.metadata_url, sp_cert_pem=cert_pem,
            sp_key_sealed=keyring().seal(key_pem.encode(), _key_context(connection)),
            email_attribute=_email_attribute(new.email_attribute),
        ))
    _claim(tenant, connection, domains)
    return connection


def apply_connection(tenant: Tenant, new: NewConnection) -> tuple[Connection, bool]:
    """A tenant file's entry: added when its slug is new, else the stored one becomes what the
    file says (same kind; its linked identities stay). Returns (connection, created)."""
    existing = connection_by_slug(tenant, new.slug or "")
    if existing is None:
        return add_connection(tenant, new), True
    if existing.kind != new.kind:
        raise InvalidInput(f"connection {existing.slug} is {existing.kind}: remove it to make it {new.kind}.")
    fields, domains = _validated(tenant, new, existing=existing)
    for name, value in fields.items():
        setattr(existing, name, value)
    if existing.kind in OIDC_KINDS:
        existing.client_secret_sealed = keyring().seal(new.client_secret.encode(), _secret_context(existing))
    else:  # the IdP's metadata follows the file; our key pair stays (the IdP has our certificate)
        from idp.federation import saml

        settings = saml_settings(existing)
        settings.idp_metadata = _saml_metadata(new)
        settings.idp_entity_id = saml.idp_entity_id(settings.idp_metadata)
        settings.metadata_url = new.metadata_url
        settings.email_attribute = _email_attribute(new.email_attribute)
    db.session.execute(delete(ConnectionDomain).where(ConnectionDomain.tenant_id == tenant.id,
                                                      ConnectionDomain.connection_id == existing.id))
    _claim(tenant, existing, domains)
    return existing, False


def _validated(tenant: Tenant, new: NewConnection, *, existing: Connection | None) -> tuple[dict[str, Any],
                                                                                          tuple[str, ...]]:
    """The connection's columns and its email domains, or InvalidInput / Conflict naming the problem."""
    kind = new.kind
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}.")
    name = new.name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters.")
    if new.pool not in POOLS:
        raise InvalidInput("pool must be staff or customer.")
    oidc = kind in OIDC_KINDS
    if oidc and (not new.client_id or len(new.client_id) > 300 or not new.client_secret
                 or len(new.client_secret) > 2000):
        raise InvalidInput("client id and client secret are required.")
    if not oidc and (new.client_id or new.client_secret or new.discovery_url):
        raise InvalidInput("a saml connection takes metadata, not a client id, secret or discovery URL.")
    if not oidc and (new.metadata_xml is None) == (new.metadata_url is None):
        raise InvalidInput("a saml connection needs its IdP's metadata: a file or a URL.")
    if new.entra_tenant and kind != "microsoft":
        raise InvalidInput("entra tenant applies to microsoft connections only.")
    entra_tenant = (new.entra_tenant or "organizations").lower() if kind == "microsoft" else None
    if entra_tenant is not None and not ENTRA_TENANT.match(entra_tenant):
        raise InvalidInput("entra tenant must be common, organizations, a tenant id or a domain.")
    if new.hosted_domains and kind != "google":
        raise InvalidInput("hosted domains apply to google connections only.")
    discovery_url = new.discovery_url or default_discovery_url(kind, entra_tenant)
    if oidc and discovery_url is None:
        raise InvalidInput("an oidc connection needs a discovery URL.")
    for url in (discovery_url, new.metadata_url):
        if url is not None:
            _check_url(url)
    scope = " ".join(new.scope.split())
    if "openid" not in scope.split() or len(scope) > 300:
        raise InvalidInput("scope must include openid.")
    hosted = [_domain(d) for d in new.hosted_domains]
    domains = tuple(dict.fromkeys(_domain(d) for d in new.email_domains))
    if (new.sso_required or new.jit) and not domains:
        raise InvalidInput("sso-required and jit need at least one email domain.")
    slug = existing.slug if existing is not None else (new.slug or _slug_for(tenant, name))
    if not SLUG.match(slug):
        raise InvalidInput("slug must be lowercase letters, digits and dashes.")
    if existing is None and connection_by_slug(tenant, slug) is not None:
        raise Conflict(f"This tenant already has a connection '{slug}'.")
    claimed = db.session.execute(select(ConnectionDomain.domain).where(
        ConnectionDomain.tenant_id == tenant.id, ConnectionDomain.domain.in_(domains),
        ConnectionDomain.connection_id != (existing.id if existing is not None else ""),
    )).scalars().all()
    if claimed:
        raise Conflict(f"Another connection of this tenant already claims {', '.join(sorted(claimed))}.")
    fields = {"slug": slug, "kind": kind, "name": name, "pool": new.pool, "client_id": new.client_id or None,
              "discovery_url": discovery_url, "entra_tenant": entra_tenant, "scope": scope,
              "hosted_domains_json": json.dumps(hosted), "sso_required": new.sso_required, "jit": new.jit,
              "trust_upstream_mfa": new.trust_upstream_mfa}
    return fields, domains


def _claim(tenant: Tenant, connection: Connection, domains: tuple[str, ...]) -> None:
    for domain in domains:
        db.session.add(ConnectionDomain(tenant_id=tenant.id, connection_id=connection.id, domain=domain))
    db.session.flush()


def remove_connection(tenant: Tenant, slug: str) -> Connection:
    """Remove it with its domain claims and linked identities (the accounts stay)."""
    connection = connection_by_slug(tenant, slug)
    if connection is None:
        raise NotFound(f"This tenant has no connection '{slug}'.")
    db.session.execute(delete(Connection).where(Connection.tenant_id == tenant.id, Connection.id == connection.id))
    return connection


def connection_by_slug(tenant: Tenant, slug: str) -> Connection | None:
    if not slug or len(slug) > 64:
        return None
    return db.session.execute(select(Connection).where(
        Connection.tenant_id == tenant.id, Connection.slug == slug)).scalar_one_or_none()


def connections_of(tenant: Tenant, pool: str | None = None) -> list[Connection]:
    query = select(Connection).where(Connection.tenant_id == tenant.id)
    if pool is not None:
        query = query.where(Connection.pool == pool)
    return list(db.session.execute(query.order_by(Connection.name, Connection.slug)).scalars())


def email_domains(connection: Connection) -> list[str]:
    return list(db.session.execute(select(ConnectionDomain.domain).where(
        ConnectionDomain.tenant_id == connection.tenant_id, ConnectionDomain.connection_id == connection.id,
    ).order_by(ConnectionDomain.domain)).scalars())


def connection_for_email(tenant: Tenant, email: str, pool: str) -> Connection | None:
    """The connection of this tenant and pool that claims the email's domain, if any (read once per
    request: the sign-in form and the sign-in service both ask)."""
    domain = email.strip().lower().rpartition("@")[2]
    if not domain or len(domain) > 253:
        return None
    return remembered(("connection-for-domain", tenant.id, pool, domain), lambda: db.session.execute(
        select(Connection).join(ConnectionDomain, ConnectionDomain.connection_id == Connection.id).where(
            ConnectionDomain.tenant_id == tenant.id, ConnectionDomain.domain == domain, Connection.pool == pool,
        )).scalar_one_or_none())


def sso_required_for(tenant: Tenant, email: str, pool: str) -> Connection | None:
    """The connection people with this email must use instead of a password, if one says so."""
    connection = connection_for_email(tenant, email, pool)
    return connection if connection is not None and connection.sso_required else None


def client_secret(connection: Connection) -> str:
    if connection.client_secret_sealed is None:
        raise ValueError(f"connection {connection.slug} has no client secret")
    return keyring().unseal(connection.client_secret_sealed, _secret_context(connection)).decode()


def upstream_of(connection: Connection) -> Upstream:
    if connection.client_id is None or connection.discovery_url is None:
        raise ValueError(f"connection {connection.slug} is not an OpenID Connect one")
    return Upstream(kind=connection.kind, client_id=connection.client_id, discovery_url=connection.discovery_url,
                    entra_tenant=connection.entra_tenant, hosted_domains=tuple(connection.hosted_domains),
                    email_domains=tuple(email_domains(connection)))


def saml_settings(connection: Connection) -> SamlSettings:
    settings = db.session.get(SamlSettings, connection.id)
    if settings is None or settings.tenant_id != connection.tenant_id:
        raise NotFound(f"connection {connection.slug} is not a SAML one.")
    return settings


def service_provider(config: Config, account: str, connection: Connection) -> ServiceProvider:
    """Our side of a SAML connection: entity id (where our metadata is), ACS, keys, the IdP's metadata."""
    from idp.federation import saml

    settings = saml_settings(connection)
    base = f"{path_issuer(config, account)}/federation/{connection.slug}/saml"
    return saml.ServiceProvider(
        entity_id=f"{base}/metadata", acs_url=f"{base}/acs", idp_metadata=settings.idp_metadata,
        key_pem=keyring().unseal(settings.sp_key_sealed, _key_context(connection)).decode(),
        cert_pem=settings.sp_cert_pem, email_attribute=settings.email_attribute,
        email_domains=tuple(email_domains(connection)),
    )


def describe(connection: Connection, redirect_uri: str) -> dict[str, Any]:
    """What an operator may see: everything but the secret."""
    if connection.kind == "saml":
        base = redirect_uri.rsplit("/", 1)[0] + "/saml"
        settings = saml_settings(connection)
        return {
            "id": connection.id, "slug": connection.slug, "kind": "saml", "name": connection.name,
            "pool": connection.pool, "entity_id": f"{base}/metadata", "acs_url": f"{base}/acs",
            "metadata_url": f"{base}/metadata", "idp_entity_id": settings.idp_entity_id,
            "email_domains": email_domains(connection), "sso_required": connection.sso_required,
            "jit": connection.jit, "trust_upstream_mfa": connection.trust_upstream_mfa,
            "email_attribute": settings.email_attribute,
        }
    return {
        "id": connection.id, "slug": connection.slug, "kind": connection.kind, "name": connection.name,
        "pool": connection.pool, "client_id": connection.client_id, "discovery_url": connection.discovery_url,
        "entra_tenant": connection.entra_tenant, "hosted_domains": connection.hosted_domains,
        "email_domains": email_domains(connection), "sso_required": connection.sso_required,
        "jit": connection.jit, "trust_upstream_mfa": connection.trust_upstream_mfa, "scope": connection.scope,
        "redirect_uri": redirect_uri,
    }


def callback_uri(config: Config, account: str, slug: str) -> str:
    """The one redirect URI to register upstream: on the path issuer form, whichever form the
    person starts at (the browser is sent back to that form afterwards)."""
    return f"{path_issuer(config, account)}/federation/{slug}/callback"


def _key_context(connection: Connection) -> str:
    return f"connection-saml-key|{connection.tenant_id}|{connection.id}"


def _saml_metadata(new: NewConnection) -> str:
    if new.metadata_url is not None:
        try:
            raw = fetch(new.metadata_url)
            metadata = raw.decode("utf-8")
        except (UpstreamError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"the SAML metadata could not be fetched from {new.metadata_url[:200]}.") from exc
    else:
        metadata = new.metadata_xml or ""
    from idp.federation import saml

    try:
        saml.idp_entity_id(metadata)
    except UpstreamError as exc:
        raise InvalidInput(exc.description) from exc
    return metadata


def _email_attribute(name: str | None) -> str | None:
    if name is not None and (not name.strip() or len(name) > 200):
        raise InvalidInput("the email attribute must be 1 to 200 characters.")
    return name.strip() if name else None


def _secret_context(connection: Connection) -> str:
    return f"connection-secret|{connection.tenant_id}|{connection.id}"


def _domain(value: str) -> str:
    domain = value.strip().lower().lstrip("@")
    if not DOMAIN.match(domain):
        raise InvalidInput(f"'{value[:100]}' is not a domain name.")
    return domain


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    loopback = parts is not None and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts is None or len(url) > 500 or not parts.hostname or (parts.scheme != "https" and not loopback):
        raise InvalidInput("the discovery URL must be an https URL.")


def _slug_for(tenant: Tenant, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50] or "connection"
    slug, n = base, 2
    while connection_by_slug(tenant, slug) is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug
