"""Tenant definitions in TOML (tenants/*.toml): applying one is idempotent.

    account = "demo"
    name = "Demo Swim School"
    [settings]                 # optional; see idp.tenancy.service.SETTINGS_LIMITS
    idle_timeout_seconds = 3600
    reset_link_seconds = 3600  # lifetime of "Forgot password?" links
    verify_link_seconds = 86400  # lifetime of email verification links
    second_factor_policy = "optional"  # "off", "optional" or "required" for staff
    [business]                 # optional; given fields are set, others kept
    legal_name = "Demo Swim School Ltd"
    email = "office@demo.example"
    phone = "+44 20 7946 0000"
    address = "1 Pool Lane, London"
    [[locations]]              # created or updated by name; a location without email sends no receipts
    name = "Downtown"
    email = "downtown@demo.example"
    [[clients]]                # created when the client_id is new, else its metadata is replaced
    client_id = "office-portal"
    client_name = "Office Portal"
    redirect_uris = ["https://office.example/callback"]
    first_party = true         # no consent page; `default = true` makes it the landing portal
    [[users]]                  # created when missing; existing users keep their password
    email = "coach@demo.example"
    name = "Casey Coach"
    password = "…"             # optional; for demo data only
    # password_hash = "$2b$12$…"  # instead of password: a bcrypt/PBKDF2 hash from an older system,
    #                           # verified as it is and upgraded to argon2id at the first sign-in
    verified = true
    pool = "staff"
    locale = "fr-CA"           # optional: the language of their mail (BCP 47; English when we have none)
    landing_page = "dashboard"  # optional: "welcome" or "dashboard"
    permissions = ["dashboard", "classes", "settings"]  # optional: pages they may see (default all)
    [[connections]]            # added when the slug is new, else updated (its links stay); README §Google…
    slug = "acme-sso"
    kind = "oidc"              # "google", "microsoft" or "oidc"
    name = "Acme SSO"
    client_id = "portcullis"
    client_secret_env = "ACME_SSO_SECRET"  # the secret comes from this variable, never from the file
    discovery_url = "https://sso.acme.example/.well-known/openid-configuration"
    email_domains = ["acme.example"]
    sso_required = true        # optional, like jit, entra_tenant, hosted_domains, pool and scope
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idp.accounts.duplicates import describe_account
from idp.accounts.emails import normalize_email
from idp.accounts.legacy_import import import_user
from idp.accounts.models import User
from idp.accounts.service import AccountError, create_user, find_user_by_email, set_locale
from idp.errors import InvalidInput
from idp.provisioning.tenants import create_tenant
from idp.tenancy.service import TenantError, apply_settings, find_tenant, rename_tenant

MAX_FILE_BYTES = 1024 * 1024


class TenantFileError(InvalidInput):
    """The file cannot be read or applied; the message names the file and the problem."""


@dataclass
class ApplyResult:
    account: str
    tenant_created: bool
    users_created: list[str] = field(default_factory=list)
    demo_credentials: list[tuple[str, str]] = field(default_factory=list)
    clients_created: list[str] = field(default_factory=list)
    client_secrets: list[tuple[str, str]] = field(default_factory=list)  # generated ones, shown once
    connections_created: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "created" if self.tenant_created else "updated"
        lines = [f"{verb} tenant {self.account}; {len(self.users_created)} user(s), "
                 f"{len(self.clients_created)} client(s) created"]
        lines += [f"  client {cid} secret (shown once): {secret}" for cid, secret in self.client_secrets]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "tenant_created": self.tenant_created,
            "users_created": self.users_created,
            "clients_created": self.clients_created,
            "client_secrets": dict(self.client_secrets),
            "connections_created": self.connections_created,
        }


def apply_tenant_file(path: Path, secrets: Mapping[str, str] | None = None) -> ApplyResult:
    """Apply the file; `secrets` is where `client_secret_env` names are looked up (the CLI passes
    the process environment)."""
    data = _read(path)
    try:
        return _apply(data, secrets or {})
    except (TenantError, AccountError) as exc:
        raise TenantFileError(f"{path}: {exc}") from exc


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TenantFileError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise TenantFileError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TenantFileError(f"{path}: not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TenantFileError(f"{path}: invalid TOML ({exc})") from exc


def _apply(data: dict[str, Any], secrets: Mapping[str, str]) -> ApplyResult:
    account = _string(data, "account")
    name = _string(data, "name")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise TenantError("'settings' must be a table")
    tenant = find_tenant(account)
    created = tenant is None
    if tenant is None:
        tenant = create_tenant(account, name, settings)
    else:
        rename_tenant(tenant, name)
        apply_settings(tenant, settings)
    result = ApplyResult(account=account, tenant_created=created)
    users = data.get("users", [])
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        raise TenantError("'users' must be an array of tables ([[users]])")
    _refuse_repeated_emails(users)
    for entry in users:
        _apply_user(tenant, entry, result)
    clients = data.get("clients", [])
    if not isinstance(clients, list) or not all(isinstance(c, dict) for c in clients):
        raise TenantError("'clients' must be an array of tables ([[clients]])")
    for entry in clients:
        _apply_client(tenant, entry, result)
    _apply_business(tenant, data)
    connections = data.get("connections", [])
    if not isinstance(connections, list) or not all(isinstance(c, dict) for c in connections):
        raise TenantError("'connections' must be an array of tables ([[connections]])")
    for entry in connections:
        _apply_connection(tenant, entry, result, secrets)
    return result


CONNECTION_KEYS = ("slug", "kind", "name", "client_id", "client_secret_env", "metadata_url", "email_attribute",
                   "discovery_url", "entra_tenant",
                   "hosted_domains", "email_domains", "sso_required", "jit", "trust_upstream_mfa", "pool", "scope")


def _apply_connection(tenant: Any, entry: dict[str, Any], result: ApplyResult, secrets: Mapping[str, str]) -> None:
    from idp.federation.connections import DEFAULT_SCOPE, NewConnection, apply_connection

    slug = _string(entry, "slug")
    where = f"connection {slug}"
    unknown = sorted(set(entry) - set(CONNECTION_KEYS))
    if unknown:
        hint = " (secrets come from client_secret_env)" if unknown[0] == "client_secret" else ""
        raise TenantError(f"{where}: unknown key '{unknown[0]}'{hint}; keys are {', '.join(CONNECTION_KEYS)}")
    kind = _string(entry, "kind")
    secret = ""
    if kind != "saml":
        variable = _string(entry, "client_secret_env")
        secret = secrets.get(variable, "")
        if not secret:
            raise TenantError(f"{where}: the variable {variable} (client_secret_env) is not set")
    new = NewConnection(
        slug=slug, kind=kind, name=_string(entry, "name"),
        client_id=_optional_string(entry, "client_id", where) or "", client_secret=secret,
        metadata_url=_optional_string(entry, "metadata_url", where),
        email_attribute=_optional_string(entry, "email_attribute", where),
        discovery_url=_optional_string(entry, "discovery_url", where),
        entra_tenant=_optional_string(entry, "entra_tenant", where),
        hosted_domains=_strings(entry, "hosted_domains", where), email_domains=_strings(entry, "email_domains", where),
        sso_required=_bool(entry, "sso_required", where), jit=_bool(entry, "jit", where),
        trust_upstream_mfa=_bool(entry, "trust_upstream_mfa", where),
        pool=_optional_string(entry, "pool", where) or "staff",
        scope=_optional_string(entry, "scope", where) or DEFAULT_SCOPE,
    )
    try:
        _, created = apply_connection(tenant, new)
    except InvalidInput as exc:  # Conflict is one too
        raise TenantError(f"{where}: {exc.description}") from exc
    if created:
        result.connections_created.append(slug)


def _apply_business(tenant: Any, data: dict[str, Any]) -> None:
    from idp.business.service import BusinessError, apply_business, apply_location

    business = data.get("business", {})
    locations = data.get("locations", [])
    if not isinstance(business, dict):
        raise TenantError("'business' must be a table ([business])")
    if not isinstance(locations, list) or not all(isinstance(loc, dict) for loc in locations):
        raise TenantError("'locations' must be an array of tables ([[locations]])")
    try:
        if business:
            apply_business(tenant, business)
        for entry in locations:
            apply_location(tenant, entry)
    except BusinessError as exc:
        raise TenantError(str(exc)) from exc


def _apply_client(tenant: Any, entry: dict[str, Any], result: ApplyResult) -> None:
    """Create the client when its client_id is new, else replace its metadata (the secret stays)."""
    from idp.oauth.client_metadata import ClientMetadataError, validate_metadata
    from idp.oauth.clients import find_client, register_client

    client_id = _string(entry, "client_id")
    options = {"client_id", "client_secret", "first_party", "default", "pool"}
    metadata = {k: v for k, v in entry.items() if k not in options}
    where = f"client {client_id}"
    first_party = _bool(entry, "first_party", where)
    is_default = _bool(entry, "default", where)
    secret = _optional_string(entry, "client_secret", where)
    pool = _optional_string(entry, "pool", where) or "staff"
    try:
        existing = find_client(tenant, client_id)
        if existing is None:
            registered = register_client(
                tenant, metadata, first_party=first_party, client_id=client_id, client_secret=secret or None,
                pool=pool,
            )
            existing = registered.client
            result.clients_created.append(client_id)
            if registered.client_secret and not secret:
                result.client_secrets.append((client_id, registered.client_secret))
        else:
            existing.client_metadata = validate_metadata(metadata, allow_http_loopback_web=True, operator=True)
            existing.first_party = first_party
        existing.is_default = is_default
    except ClientMetadataError as exc:
        raise TenantError(f"client {client_id}: {exc.description}") from exc


USER_KEYS = ("email", "name", "username", "password", "password_hash", "pool", "verified", "locale",
             "landing_page", "permissions")


@dataclass(frozen=True)
class UserEntry:
    """One [[users]] table, each key checked for its type (a misspelt key is an error, not ignored)."""

    email: str
    pool: str
    password: str | None
    password_hash: str | None
    name: str | None
    username: str | None
    verified: bool
    locale: str | None

    @classmethod
    def read(cls, entry: dict[str, Any]) -> UserEntry:
        email = _string(entry, "email")
        where = f"user {email}"
        unknown = sorted(set(entry) - set(USER_KEYS))
        if unknown:
            raise TenantError(f"{where}: unknown key '{unknown[0]}'; keys are {', '.join(USER_KEYS)}")
        password = _optional_string(entry, "password", where)
        password_hash = _optional_string(entry, "password_hash", where)
        if password is not None and password_hash is not None:
            raise TenantError(f"{where}: give 'password' or 'password_hash', not both")
        return cls(
            email=email, pool=_optional_string(entry, "pool", where) or "staff", password=password,
            password_hash=password_hash, name=_optional_string(entry, "name", where),
            username=_optional_string(entry, "username", where), verified=_bool(entry, "verified", where),
            locale=_optional_string(entry, "locale", where),
        )


def _apply_user(tenant: Any, entry: dict[str, Any], result: ApplyResult) -> None:
    fields = UserEntry.read(entry)
    user = find_user_by_email(tenant, fields.pool, fields.email)
    _refuse_shared_email(user, fields.username, fields.email)
    if user is None:
        user = _create_user(tenant, fields)
        result.users_created.append(user.email)
    if fields.locale is not None:  # the file's to say, for new and existing users alike
        set_locale(user, fields.locale)
    if fields.password is not None:
        result.demo_credentials.append((user.email, fields.password))
    _apply_staff_settings(user, entry, fields.email)


def _create_user(tenant: Any, fields: UserEntry) -> User:
    if fields.password_hash is not None:
        # A hash from an older system: verified as it is, upgraded to argon2id at the first sign-in.
        return import_user(tenant, email=fields.email, username=fields.username, name=fields.name,
                           pool=fields.pool, password_hash=fields.password_hash, email_verified=fields.verified)
    return create_user(tenant, email=fields.email, password=fields.password, name=fields.name, pool=fields.pool,
                       username=fields.username, email_verified=fields.verified)


def _apply_staff_settings(user: Any, entry: dict[str, Any], email: str) -> None:
    """Landing page and permissions are the file's to say, for new and existing users alike."""
    from idp.accounts.landing import InvalidPermissions, apply_staff_settings

    try:
        apply_staff_settings(user, entry)
    except InvalidPermissions as exc:
        raise AccountError(f"user {email}: {exc}") from exc


def _refuse_repeated_emails(users: list[dict[str, Any]]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for number, entry in enumerate(users, start=1):
        email, pool = entry.get("email"), entry.get("pool", "staff")
        if not isinstance(email, str) or not isinstance(pool, str):
            continue
        key = (pool, normalize_email(email))
        if key in seen:
            raise AccountError(f"users #{seen[key]} and #{number} both use the email {key[1]} in the {pool} pool")
        seen[key] = number


def _refuse_shared_email(user: Any, username: str | None, email: str) -> None:
    """An entry whose address another account holds is a second person, not the same one again."""
    if user is None or username is None:
        return
    if (user.username_normalized or "") != username.strip().lower():
        raise AccountError(
            f"user {email}: the email already belongs to {describe_account(user)}; "
            "each account of a pool needs its own address"
        )


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TenantError(f"'{key}' must be a non-empty string")
    return value.strip()


def _optional_string(data: dict[str, Any], key: str, where: str) -> str | None:
    """A string when the key is given, else None; any other type is an error, not a guess."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TenantError(f"{where}: '{key}' must be a string")
    return value


def _strings(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TenantError(f"{where}: '{key}' must be an array of strings")
    return tuple(value)


def _bool(data: dict[str, Any], key: str, where: str) -> bool:
    """Only a TOML boolean: `bool("no")` is True, and a quoted "false" must not make a client
    first-party (no consent page) or an address verified."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise TenantError(f"{where}: '{key}' must be true or false (without quotes)")
    return value
