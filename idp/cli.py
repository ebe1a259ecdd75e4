"""The operator interface, `idp` (docs/architecture.md §Operator interface). Scripts depend on it.

Every command prints one line on success (or one JSON object with --json) and, on failure, one
line starting with "error:" on standard error and a non-zero exit status.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

from idp.config import ConfigError
from idp.errors import DatabaseUnavailable, PortcullisError
from idp.unit_of_work import unit_of_work

EXIT_USAGE = 2
EXIT_FAILED = 1


def fail(message: str, status: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)


@contextmanager
def app_context() -> Iterator[Flask]:
    from idp.app import create_app
    from idp.db import db

    try:
        app = create_app()
    except ConfigError as exc:
        fail(str(exc))
    except ArgumentError as exc:
        fail(f"IDP_DATABASE_URL is not a database URL this server can use ({exc})")
    with app.app_context():
        try:
            yield app
        except IntegrityError:
            db.session.rollback()
            fail("the change conflicts with existing data (it may have been made concurrently)")
        except DatabaseUnavailable as exc:
            fail(f"cannot use the database ({_first_line(exc.__cause__)}): check IDP_DATABASE_URL")
        except (OperationalError, ProgrammingError) as exc:
            db.session.rollback()
            fail(f"cannot use the database ({_first_line(exc.orig)}): check IDP_DATABASE_URL, and run "
                 "`idp db upgrade` if the schema is missing or old")


def _first_line(error: BaseException | None) -> str:
    """The driver's own words, without SQL or parameters (they may hold secrets)."""
    text = str(error or "").strip().splitlines()
    return text[0][:200] if text else "no detail"


def guarded(func: Callable[..., None]) -> Callable[..., None]:
    """Turn a domain error into one 'error:' line and exit status 1."""

    def wrapper(*args: Any, **kwargs: Any) -> None:
        refuse_unreadable_arguments(kwargs)
        try:
            func(*args, **kwargs)
        except PortcullisError as exc:
            fail(str(exc))

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def refuse_unreadable_arguments(arguments: dict[str, Any]) -> None:
    """An argument that is not UTF-8 reaches us with lone surrogates (click decodes with
    surrogateescape); nothing can store or print it, so say which option it was and stop."""
    from idp.text import has_unreadable_characters

    params = {param.name: param for param in click.get_current_context().command.params}
    for name, value in arguments.items():
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, str) and has_unreadable_characters(v) for v in values):
            param = params.get(name)
            label = param.opts[0] if isinstance(param, click.Option) else name.upper()
            fail(f"{label} contains characters that could not be read (is it UTF-8?)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Portcullis, a multi-tenant OpenID Connect identity provider."""


@main.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (the only way the schema is made)."""
    from idp.db import db
    from idp.schema import upgrade

    with app_context():
        upgrade(db.engine)
        click.echo("database is at the latest schema")


@main.group("tenant")
def tenant_group() -> None:
    """Tenants (customer accounts)."""


@tenant_group.command("create")
@click.argument("account")
@click.option("--name", required=True, help="Display name, for example 'Blue Lagoon Swim School'.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def tenant_create(account: str, name: str, as_json: bool) -> None:
    """Create a tenant with its own issuer and signing key."""
    from idp.provisioning.tenants import create_tenant

    with app_context():
        with unit_of_work():
            tenant = create_tenant(account, name)
        emit(as_json, {"id": tenant.id, "account": tenant.account, "name": tenant.name},
             f"created tenant {tenant.account}")


@tenant_group.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--announce", is_flag=True, help="Print sign-in URLs and demo credentials.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def tenant_apply(file: Path, announce: bool, as_json: bool) -> None:
    """Create or update a tenant from a TOML file (idempotent)."""
    from idp.provisioning.tenant_file import apply_tenant_file
    from idp.tenancy.issuers import sign_in_urls

    with app_context() as app:
        with unit_of_work():
            result = apply_tenant_file(file, os.environ)  # client_secret_env names are read here
        if as_json:
            emit(True, result.as_dict(), "")
            return
        click.echo(result.summary())
        if announce:
            for url in sign_in_urls(app.config["IDP"], result.account):
                click.echo(f"  sign in at {url}")
            for email, password in result.demo_credentials:
                click.echo(f"  demo staff: {email} / {password}")


@main.group("user")
def user_group() -> None:
    """People of a tenant."""


@user_group.command("create")
@click.option("--tenant", "account", required=True)
@click.option("--email", required=True)
@click.option("--password", default=None, help="Omit to create a user who sets one by email.")
@click.option("--name", default=None)
@click.option("--username", default=None, help="Legacy staff username (optional).")
@click.option("--pool", type=click.Choice(["staff", "customer"]), default="staff", show_default=True)
@click.option("--verified", is_flag=True, help="Mark the email address as verified.")
@click.option("--locale", default=None, help="Language of their mail, a BCP 47 tag such as fr or pt-BR.")
@click.option("--json", "as_json", is_flag=True)
@guarded
def user_create(
    account: str, email: str, password: str | None, name: str | None, username: str | None,
    pool: str, verified: bool, locale: str | None, as_json: bool,
) -> None:
    """Create a user in a tenant's pool."""
    from idp.accounts.service import create_user
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            user = create_user(
                get_tenant(account), email=email, password=password, name=name, pool=pool,
                username=username, email_verified=verified, locale=locale,
            )
        emit(as_json, {"id": user.id, "sub": user.sub, "email": user.email, "pool": user.pool},
             f"created {pool} user {user.email} (sub {user.sub})")


@main.group("client")
def client_group() -> None:
    """OAuth/OIDC clients (relying parties) of a tenant."""


@client_group.command("create")
@click.option("--tenant", "account", required=True)
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--public", is_flag=True, help="A public client (native app): PKCE, no secret.")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]))
@click.option("--scope", default="openid profile email", show_default=True)
@click.option("--token-endpoint-auth-method", "auth_method", default=None,
              type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]))
@click.option("--backchannel-logout-uri", default=None)
@click.option("--first-party", is_flag=True, help="One of the product's own portals: no consent page.")
@click.option("--pool", type=click.Choice(["staff", "customer"]), default="staff", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@guarded
def client_create(
    account: str, name: str, redirect_uris: tuple[str, ...], post_logout_redirect_uris: tuple[str, ...],
    public: bool, grant_types: tuple[str, ...], scope: str, auth_method: str | None,
    backchannel_logout_uri: str | None, first_party: bool, pool: str, as_json: bool,
) -> None:
    """Register a client; its secret is printed once and stored only as a hash."""
    from idp.oauth.clients import register_client
    from idp.tenancy.service import get_tenant

    if public and auth_method not in (None, "none"):
        fail("--public clients use --token-endpoint-auth-method none", EXIT_USAGE)
    metadata = {
        "client_name": name,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "grant_types": list(grant_types) or ["authorization_code", "refresh_token"],
        "scope": scope,
        "token_endpoint_auth_method": "none" if public else (auth_method or "client_secret_basic"),
        "application_type": "native" if public else "web",
        "backchannel_logout_uri": backchannel_logout_uri,
    }
    with app_context():
        with unit_of_work():
            registered = register_client(get_tenant(account), metadata, first_party=first_party, pool=pool)
        client = registered.client
        emit(as_json, {"client_id": client.client_id, "client_secret": registered.client_secret},
             f"client_id: {client.client_id}\nclient_secret: {registered.client_secret or '(public client)'}")


@client_group.command("registration-token")
@click.option("--tenant", "account", required=True)
@click.option("--days", default=None, type=click.IntRange(1, 3650), help="Expire after this many days.")
@click.option("--json", "as_json", is_flag=True)
@guarded
def client_registration_token(account: str, days: int | None, as_json: bool) -> None:
    """Mint an initial access token for dynamic client registration (RFC 7591 §3); shown once."""
    from datetime import timedelta

    from idp.oauth.registration import create_initial_access_token
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            token = create_initial_access_token(get_tenant(account), timedelta(days=days) if days else None)
        emit(as_json, {"initial_access_token": token}, f"initial access token: {token}")


@main.group("connection")
def connection_group() -> None:
    """Upstream identity providers of a tenant (Google, Microsoft Entra ID, any OpenID Provider)."""


@connection_group.command("add")
@click.option("--tenant", "account", required=True)
@click.option("--kind", required=True, type=click.Choice(["google", "microsoft", "oidc", "saml"]))
@click.option("--name", required=True, help='Shown on the sign-in page: "Continue with NAME".')
@click.option("--client-id", default=None, help="google, microsoft, oidc: the client registered upstream.")
@click.option("--client-secret", default=None, help="Or --client-secret-env, to keep it out of the process list.")
@click.option("--client-secret-env", default=None, metavar="VAR", help="Read the client secret from this variable.")
@click.option("--discovery-url", default=None, help="Required for oidc; replaces google's and microsoft's default.")
@click.option("--entra-tenant", default=None, help="microsoft: common, organizations (default) or a tenant id.")
@click.option("--hosted-domain", "hosted_domains", multiple=True, help="google: an accepted `hd` value.")
@click.option("--email-domain", "email_domains", multiple=True, help="People of this domain are sent here.")
@click.option("--sso-required", is_flag=True, help="People of those domains cannot use a password.")
@click.option("--jit", is_flag=True, help="Create the account at first sign-in (email domains only).")
@click.option("--trust-upstream-mfa", is_flag=True, help="The upstream's MFA (amr mfa) counts as the second factor.")
@click.option("--pool", type=click.Choice(["staff", "customer"]), default="staff", show_default=True)
@click.option("--scope", default="openid email profile", show_default=True)
@click.option("--slug", default=None, help="The connection's name in URLs (default: from --name).")
@click.option("--metadata-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="saml: the IdP's metadata.")
@click.option("--metadata-url", default=None, help="saml: fetch the IdP's metadata from here.")
@click.option("--email-attribute", default=None, help="saml: the attribute holding the email.")
@click.option("--json", "as_json", is_flag=True)
@guarded
def connection_add(account: str, kind: str, name: str, client_id: str | None, client_secret: str | None,
                   client_secret_env: str | None, discovery_url: str | None, entra_tenant: str | None,
                   hosted_domains: tuple[str, ...], email_domains: tuple[str, ...], sso_required: bool, jit: bool,
                   trust_upstream_mfa: bool, pool: str, scope: str, slug: str | None, metadata_file: Path | None,
                   metadata_url: str | None, email_attribute: str | None, as_json: bool) -> None:
    """Add a connection; prints the redirect URI to register at the upstream. The secret is sealed."""
    from idp.federation.connections import NewConnection, add_connection, callback_uri, describe
    from idp.tenancy.service import get_tenant

    secret = ""
    metadata_xml = None
    if kind == "saml":
        if (metadata_file is None) == (metadata_url is None):
            fail("a saml connection takes exactly one of --metadata-file and --metadata-url", EXIT_USAGE)
        if metadata_file is not None:
            try:
                metadata_xml = metadata_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"cannot read {metadata_file}: {exc}")
    else:
        if not client_id:
            fail(f"a {kind} connection needs --client-id", EXIT_USAGE)
        if (client_secret is None) == (client_secret_env is None):
            fail("give exactly one of --client-secret and --client-secret-env", EXIT_USAGE)
        secret = client_secret if client_secret is not None else os.environ.get(client_secret_env or "", "")
        if not secret:
            fail(f"the variable {client_secret_env} is not set")
    new = NewConnection(kind=kind, name=name, client_id=client_id or "", client_secret=secret,
                        metadata_xml=metadata_xml, metadata_url=metadata_url, email_attribute=email_attribute,
                        discovery_url=discovery_url,
                        entra_tenant=entra_tenant, hosted_domains=hosted_domains, email_domains=email_domains,
                        sso_required=sso_required, jit=jit, trust_upstream_mfa=trust_upstream_mfa, pool=pool,
                        scope=scope, slug=slug)
    with app_context() as app:
        with unit_of_work():
            connection = add_connection(get_tenant(account), new)
        redirect_uri = callback_uri(app.config["IDP"], account, connection.slug)
        if connection.kind == "saml":
            shown = {k: v for k, v in describe(connection, redirect_uri).items()
                     if k in ("id", "slug", "kind", "name", "entity_id", "acs_url", "metadata_url")}
            emit(as_json, shown, f"connection {connection.slug} added; give the IdP our metadata: "
                                 f"{shown['metadata_url']}")
            return
        emit(as_json, {"id": connection.id, "slug": connection.slug, "kind": connection.kind, "name": connection.name,
                       "redirect_uri": redirect_uri},
             f"connection {connection.slug} added; register this redirect URI upstream: {redirect_uri}")


@connection_group.command("list")
@click.option("--tenant", "account", required=True)
@click.option("--json", "as_json", is_flag=True)
@guarded
def connection_list(account: str, as_json: bool) -> None:
    """The tenant's connections (secrets are never printed)."""
    from idp.federation.connections import callback_uri, connections_of, describe
    from idp.tenancy.service import get_tenant

    with app_context() as app:
        tenant = get_tenant(account)
        described = [describe(c, callback_uri(app.config["IDP"], account, c.slug)) for c in connections_of(tenant)]
        lines = [f"{c['slug']}\t{c['kind']}\t{c['name']}\t{' '.join(c['email_domains'])}" for c in described]
        emit(as_json, {"connections": described}, "\n".join(lines) or "no connections")


@connection_group.command("remove")
@click.option("--tenant", "account", required=True)
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@guarded
def connection_remove(account: str, slug: str, as_json: bool) -> None:
    """Remove a connection with its domain claims and links (the accounts stay)."""
    from idp.federation.connections import remove_connection
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            connection = remove_connection(get_tenant(account), slug)
        emit(as_json, {"removed": connection.slug}, f"connection {connection.slug} removed")


@main.group("audit")
def audit_group() -> None:
    """The audit trail of every tenant."""


@audit_group.command("prune")
@click.option("--days", type=click.IntRange(1, 36500), default=None,
              help="Keep this many days (default: IDP_AUDIT_RETENTION_DAYS, 400).")
@click.option("--json", "as_json", is_flag=True)
@guarded
def audit_prune(days: int | None, as_json: bool) -> None:
    """Delete audit events older than the retention period, in every tenant."""
    from datetime import timedelta

    from idp import clock
    from idp.audit.service import prune

    with app_context() as app:
        keep = days or app.config["IDP"].audit_retention_days
        before = clock.now() - timedelta(days=keep)
        with unit_of_work():
            deleted = prune(before)
        emit(as_json, {"deleted": deleted, "before": before.isoformat()},
             f"{deleted} audit event(s) older than {keep} days deleted")


@main.group("keys")
def keys_group() -> None:
    """Signing keys of a tenant."""


@keys_group.command("rotate")
@click.option("--tenant", "account", required=True)
@click.option("--json", "as_json", is_flag=True)
@guarded
def keys_rotate(account: str, as_json: bool) -> None:
    """Start signing with new keys; retired public keys stay published until their tokens expire."""
    from idp.signing.service import rotate_keys
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            keys = rotate_keys(get_tenant(account))
        kids = {key.alg: key.kid for key in keys}
        emit(as_json, {"active": kids}, "new signing keys: " + ", ".join(f"{a} {k}" for a, k in kids.items()))


@main.group("family")
def family_group() -> None:
    """Families of the customer pool: a primary guardian and view-only secondary members.

    Access is granted only by the primary guardian's invitation: nothing here adds a member."""


def _family_text(body: dict[str, Any]) -> str:
    lines = [f"family {body['name']} ({body['id']})"]
    lines += [f"  {m['role']:<9} {m['access']:<4} {m['email']} (sub {m['sub']})" for m in body["members"]]
    lines += [f"  invited   {i['status']:<9} {i['email']} until {i['expires_at']}" for i in body.get("invitations", [])]
    return "\n".join(lines)


@family_group.command("create")
@click.option("--tenant", "account", required=True)
@click.option("--name", required=True, help="The family's name, for example 'The Garcia family'.")
@click.option("--primary", "primary_email", required=True, help="The primary guardian's customer email.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def family_create(account: str, name: str, primary_email: str, as_json: bool) -> None:
    """Create a family led by an existing customer account."""
    from idp.families import service
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            tenant = get_tenant(account)
            family = service.create_family(tenant, name=name, primary_email=primary_email)
            body = service.describe(tenant, family)
        emit(as_json, {"id": body["id"], "name": body["name"], "primary": body["primary"]},
             f"created family {body['name']} ({body['id']})")


@family_group.command("show")
@click.option("--tenant", "account", required=True)
@click.argument("family_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def family_show(account: str, family_id: str, as_json: bool) -> None:
    """A family: its members (role, access) and its invitations (status)."""
    from idp.families import service
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            tenant = get_tenant(account)
            body = service.describe(tenant, service.get_family(tenant, family_id))
        emit(as_json, body, _family_text(body))


@family_group.command("set-primary")
@click.option("--tenant", "account", required=True)
@click.argument("family_id")
@click.option("--email", required=True, help="The new primary guardian's customer email.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def family_set_primary(account: str, family_id: str, email: str, as_json: bool) -> None:
    """Change the primary guardian: every secondary access and invitation ends (all are emailed)."""
    from idp.families import service
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            tenant = get_tenant(account)
            family = service.get_family(tenant, family_id)
            service.set_primary(tenant, family, service.customer_by_email(tenant, email), actor="operator")
            body = service.describe(tenant, family)
        emit(as_json, body, _family_text(body))


@family_group.command("revoke")
@click.option("--tenant", "account", required=True)
@click.argument("family_id")
@click.option("--email", required=True, help="The secondary member's email.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def family_revoke(account: str, family_id: str, email: str, as_json: bool) -> None:
    """End a secondary member's access now (their tokens for the family are revoked; both the
    member and the primary guardian are emailed)."""
    from idp.families import service
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            tenant = get_tenant(account)
            family = service.get_family(tenant, family_id)
            service.revoke(tenant, family, service.customer_by_email(tenant, email), actor="operator")
            body = service.describe(tenant, family)
        emit(as_json, body, _family_text(body))


@main.group("policy")
def policy_group() -> None:
    """Platform Terms & Conditions and Privacy Policy; a tenant's family policies."""


@policy_group.command("publish")
@click.option("--kind", required=True, type=click.Choice(["terms", "privacy", "family"]))
@click.option("--tenant", "account", help="The tenant whose document it is (family policies only).")
@click.option("--version", "version", required=True, help="The version's label, for example 2025-01.")
@click.option("--url", required=True, help="Where the document (or what changed) can be read.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def policy_publish(kind: str, account: str | None, version: str, url: str, as_json: bool) -> None:
    """Publish a new version: everyone it applies to accepts it at their next sign-in (family
    policies: each family's primary guardian; until then its secondary members are blocked)."""
    from idp.policies.service import publish
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            document = publish(kind, version, url, get_tenant(account) if account is not None else None)
        emit(as_json, {"id": document.id, "kind": document.kind, "version": document.version, "url": document.url,
                       "tenant": account},
             f"published {document.title} version {document.version}")


@user_group.command("invite")
@click.option("--tenant", "account", required=True)
@click.option("--email", required=True)
@click.option("--pool", type=click.Choice(["staff", "customer"]), default="staff", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@guarded
def user_invite(account: str, email: str, pool: str, as_json: bool) -> None:
    """Email a user a link to set their password (or to reset it, if they have one)."""
    from idp.accounts.service import AccountError, find_user_by_email
    from idp.recovery.service import send_password_link
    from idp.tenancy.service import get_tenant

    with app_context():
        with unit_of_work():
            tenant = get_tenant(account)
            user = find_user_by_email(tenant, pool, email)
            if user is None:
                raise AccountError(f"no {pool} account with the email {email.strip()} in '{account}'")
            send_password_link(tenant, user)
        emit(as_json, {"sub": user.sub, "email": user.email}, f"queued a password link for {user.email}")


@main.group("users")
def users_group() -> None:
    """Checks across a tenant's users."""


@users_group.command("duplicates")
@click.option("--tenant", "account", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@guarded
def users_duplicates(account: str, as_json: bool) -> None:
    """List accounts whose emails collide after normalisation (imported data), to give each its own."""
    from idp.accounts.duplicates import find_shared_emails
    from idp.tenancy.service import get_tenant

    with app_context():
        shared = find_shared_emails(get_tenant(account))
        if as_json:
            emit(True, {"tenant": account, "duplicates": [group.as_dict() for group in shared]}, "")
            return
        if not shared:
            click.echo(f"no shared email addresses in '{account}'")
        for group in shared:
            click.echo(f"{group.email} ({group.pool}): {len(group.users)} accounts")
            for user in group.users:
                holds = "holds the address" if user.email_normalized else "signs in by username only"
                click.echo(f"  {user.sub}  username={user.username or '-'}  name={user.name or '-'}  {holds}")


@main.group("mail")
def mail_group() -> None:
    """The outbox of emails."""


@mail_group.command("send-pending")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def mail_send_pending(limit: int, as_json: bool) -> None:
    """Deliver the messages that are due (safe to run beside `idp serve` and from cron)."""
    from idp.mail.sender import send_pending

    with app_context():
        report = send_pending(limit=limit)
        emit(as_json, report.as_dict(), f"{report.sent} sent, {report.failed} failed attempt(s), "
             f"{len(report.given_up)} given up")


@main.group("logout")
def logout_group() -> None:
    """Back-channel logout notices to relying parties."""


@logout_group.command("deliver-pending")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def logout_deliver_pending(as_json: bool) -> None:
    """POST the logout tokens that are due (safe to run beside `idp serve` and from cron)."""
    from idp.oauth.backchannel import deliver_due

    with app_context():
        delivered = deliver_due(limit=1000)
        emit(as_json, {"delivered": delivered}, f"{delivered} logout notice(s) delivered")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Run the production HTTP server (Granian, one worker process per core)."""
    import tempfile

    # Before prometheus_client is first imported (by idp.server): each worker then keeps its
    # counters in files here, and a scrape in any worker adds them all up.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="portcullis-metrics-"))
    from idp.server import run

    try:
        run(host=host, port=port, workers=workers)
    except ConfigError as exc:
        fail(str(exc))
