"""Every IDP_* setting, read and validated once (docs/architecture.md §Operator interface).

Nothing else in the package reads the environment: `create_app` calls `load_config` and hands
the resulting `Config` to whoever needs it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from idp.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    database_url: str
    public_url: str
    base_domain: str
    smtp_url: str | None
    mail_outbox: Path
    master_key: bytes = field(repr=False)
    log_level: str = "INFO"
    log_format: str = "text"  # IDP_LOG_FORMAT: "text", or "json" (one object per line)
    trust_proxy: bool = False
    mail_from: str | None = None  # IDP_MAIL_FROM; None: no-reply@{base_domain}
    # IDP_ACCESS_TOKEN_ALG (docs/decisions/es256-access-tokens.md)
    access_token_alg: str = "ES256"  # noqa: S105 - an algorithm name
    metrics_token: str | None = field(default=None, repr=False)  # IDP_METRICS_TOKEN: GET /metrics needs it
    audit_retention_days: int = 400  # IDP_AUDIT_RETENTION_DAYS: `idp audit prune` deletes older events

    @property
    def mail_from_address(self) -> str:
        return self.mail_from or f"no-reply@{self.base_domain}"

    @property
    def public_scheme(self) -> str:
        return urlsplit(self.public_url).scheme

    @property
    def public_host(self) -> str:
        """The `host[:port]` of IDP_PUBLIC_URL, lower-cased."""
        return urlsplit(self.public_url).netloc.lower()

    @property
    def public_path(self) -> str:
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.public_scheme == "https"


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    return Config(
        database_url=_database_url(env.get("IDP_DATABASE_URL")),
        public_url=_public_url(env.get("IDP_PUBLIC_URL", "http://127.0.0.1:8000")),
        base_domain=_base_domain(env.get("IDP_BASE_DOMAIN", "localhost")),
        smtp_url=_smtp_url(env.get("IDP_SMTP_URL") or None),
        mail_outbox=Path(env.get("IDP_MAIL_OUTBOX") or PROJECT_ROOT / "var" / "outbox"),
        master_key=_master_key(env.get("IDP_MASTER_KEY"), PROJECT_ROOT / "keys" / "master.key"),
        log_level=_log_level(env.get("IDP_LOG_LEVEL", "INFO")),
        log_format=_log_format(env.get("IDP_LOG_FORMAT") or "text"),
        trust_proxy=_flag("IDP_TRUST_PROXY", env.get("IDP_TRUST_PROXY", "")),
        mail_from=_mail_from(env.get("IDP_MAIL_FROM") or None),
        access_token_alg=_access_token_alg(env.get("IDP_ACCESS_TOKEN_ALG") or "ES256"),
        metrics_token=_metrics_token(env.get("IDP_METRICS_TOKEN") or None),
        audit_retention_days=_days("IDP_AUDIT_RETENTION_DAYS", env.get("IDP_AUDIT_RETENTION_DAYS") or "400"),
    )


def _database_url(value: str | None) -> str:
    if not value:
        var = PROJECT_ROOT / "var"
        var.mkdir(exist_ok=True)
        return f"sqlite:///{var / 'portcullis.db'}"
    if value.startswith("postgresql://") or value.startswith("postgres://"):
        # psycopg 3 is the driver we ship; spell it out so SQLAlchemy does not look for psycopg2.
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    if not value.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError(
            "IDP_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, "
            f"got {value.split(':', 1)[0]!r}"
        )
    return value


def _public_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"IDP_PUBLIC_URL must be an http(s) URL with a host, got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError("IDP_PUBLIC_URL must not carry a query or fragment")
    return value.rstrip("/")


def _base_domain(value: str) -> str:
    value = value.strip().lower().strip(".")
    labels = value.split(".")
    if not value or any(not label or len(label) > 63 for label in labels):
        raise ConfigError(f"IDP_BASE_DOMAIN must be a DNS name such as 'localhost', got {value!r}")
    return value


def _smtp_url(value: str | None) -> str | None:
    if value is None:
        return None
    from idp.smtp_url import parse_smtp_url

    parse_smtp_url(value)  # raises ConfigError naming what is wrong
    return value


def _mail_from(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value.count("@") != 1 or any(c.isspace() or c in "<>\"," for c in value):
        raise ConfigError(f"IDP_MAIL_FROM must be a bare address such as no-reply@example.com, got {value!r}")
    return value


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"IDP_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
    return level


ACCESS_TOKEN_ALGS = ("ES256", "RS256")  # every tenant holds an active key of each


def _access_token_alg(value: str) -> str:
    if value not in ACCESS_TOKEN_ALGS:
        raise ConfigError(f"IDP_ACCESS_TOKEN_ALG must be ES256 or RS256, got {value!r}")
    return value


def _metrics_token(value: str | None) -> str | None:
    if value is not None and len(value) < 24:
        raise ConfigError("IDP_METRICS_TOKEN must be at least 24 characters (a random string)")
    return value


def _log_format(value: str) -> str:
    if value not in ("text", "json"):
        raise ConfigError(f"IDP_LOG_FORMAT must be text or json, got {value[:20]!r}")
    return value


def _days(name: str, value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 36500:
        raise ConfigError(f"{name} must be a whole number of days from 1 to 36500, got {value[:40]!r}")
    return int(value)


def _flag(name: str, value: str) -> bool:
    if value.lower() in ("", "0", "false", "no"):
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _master_key(value: str | None, path: Path) -> bytes:
    """32 bytes, from IDP_MASTER_KEY (base64) or keys/master.key, created on first run."""
    if value:
        return _decode_master_key(value, "IDP_MASTER_KEY")
    if path.exists():
        return _decode_master_key(path.read_text().strip(), str(path))
    path.parent.mkdir(exist_ok=True)
    # Write a temporary file and hard-link it into place: several workers starting at once all
    # end up with the one key that won the race, and nobody reads a half-written file.
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(encoded + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return _decode_master_key(path.read_text().strip(), str(path))


def _decode_master_key(value: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{source} must hold a base64-encoded 32-byte key") from exc
    if len(key) != 32:
        raise ConfigError(f"{source} must hold a base64-encoded 32-byte key, got {len(key)} bytes")
    return key
