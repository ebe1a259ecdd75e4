"""The SAML 2.0 service-provider side of a connection, with pysaml2 and Debian's xmlsec1.

SP-initiated only: a signed AuthnRequest goes out by the HTTP-Redirect binding, the Response
comes back by HTTP-POST to the connection's ACS. pysaml2 checks what SAML asks of a service
provider: the assertion signed by a certificate of the IdP's metadata (one unsigned or signed by
another key is refused, and only the signed assertion is read, so a wrapped one is never used),
Audience = our entity id, Destination and Recipient = our ACS, InResponseTo = the request this
trip sent (no unsolicited responses), NotBefore / NotOnOrAfter within two minutes. Each
assertion id is remembered until it expires (`SamlAssertion`), so a replay is refused on every
node. The email attribute is trusted only within the connection's email domains.

pysaml2 reads keys from files: the SP's private key is unsealed into a private temporary
directory for the one call that signs, and removed after it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from idp.federation.upstream import UpstreamError, UpstreamIdentity, UpstreamRefused

log = logging.getLogger(__name__)

XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
CLOCK_SKEW_SECONDS = 120
MAX_METADATA_BYTES = 512 * 1024
EMAIL_ATTRIBUTES = ("email", "mail", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress")
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


@dataclass(frozen=True)
class ServiceProvider:
    entity_id: str  # also where our metadata is served
    acs_url: str
    idp_metadata: str
    key_pem: str
    cert_pem: str
    email_attribute: str | None = None
    email_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assertion:
    id: str
    expires_at: datetime
    identity: UpstreamIdentity


def new_key_pair(common_name: str) -> tuple[str, str]:
    """An RSA key and a self-signed certificate for signing AuthnRequests (ten years: IdPs pin it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def idp_entity_id(metadata: str) -> str:
    """The IdP's entity id, from metadata that must describe one IdP with a Redirect SSO service
    and a signing certificate; raises UpstreamError naming what is missing."""
    if len(metadata.encode()) > MAX_METADATA_BYTES:
        raise UpstreamError("The SAML metadata is too large.")
    if "<!DOCTYPE" in metadata or "<!ENTITY" in metadata:  # no entity expansion, no external entities
        raise UpstreamError("The SAML metadata may not declare a DTD.")
    try:
        root = ElementTree.fromstring(metadata)  # noqa: S314 - no DTD, checked above
    except ElementTree.ParseError as exc:
        raise UpstreamError("The SAML metadata is not XML.") from exc
    entity = root if root.tag == f"{MD}EntityDescriptor" else root.find(f"{MD}EntityDescriptor")
    idp = entity.find(f"{MD}IDPSSODescriptor") if entity is not None else None
    if entity is None or idp is None or not entity.get("entityID"):
        raise UpstreamError("The SAML metadata describes no identity provider.")
    if not any(s.get("Binding") == BINDING_HTTP_REDIRECT for s in idp.findall(f"{MD}SingleSignOnService")):
        raise UpstreamError("The identity provider has no HTTP-Redirect single sign-on service.")
    if not [k for k in idp.findall(f"{MD}KeyDescriptor") if k.get("use") in (None, "signing")]:
        raise UpstreamError("The identity provider's metadata has no signing certificate.")
    return str(entity.get("entityID"))


def authn_request(sp: ServiceProvider, relay_state: str) -> tuple[str, str]:
    """(request id, the URL to send the browser to): a signed AuthnRequest, HTTP-Redirect binding."""
    with _client(sp) as client:
        request_id, info = client.prepare_for_authenticate(
            entityid=idp_entity_id(sp.idp_metadata), relay_state=relay_state, binding=BINDING_HTTP_REDIRECT,
            sign=True, sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
        )
    location = dict(info["headers"])["Location"]
    return str(request_id), str(location)


def read_response(sp: ServiceProvider, saml_response: str, request_id: str) -> Assertion:
    """Check the IdP's POSTed Response against the request this trip sent; raises UpstreamRefused."""
    if not saml_response or len(saml_response) > 400_000:
        raise UpstreamRefused("The identity provider's answer is missing or too large.")
    with _client(sp) as client:
        try:
            response = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST,
                                                           outstanding={request_id: "/"})
        except Exception as exc:  # pysaml2 raises a dozen kinds for a hostile or wrong response
            log.info("SAML response refused: %s: %s", type(exc).__name__, str(exc)[:200])
            raise UpstreamRefused("The identity provider's answer could not be verified.") from exc
    if response is None or response.assertion is None:
        raise UpstreamRefused("The identity provider's answer holds no assertion.")
    name_id = response.name_id
    if name_id is None or not name_id.text or name_id.format == NAMEID_FORMAT_TRANSIENT:
        raise UpstreamRefused("The identity provider sent no stable name for the person.")
    attributes: dict[str, list[Any]] = response.ava or {}
    email = _email(sp, attributes, name_id)
    trusted = email is not None and email.rpartition("@")[2] in sp.email_domains
    names = attributes.get("displayName") or attributes.get("cn") or []
    identity = UpstreamIdentity(subject=f"{name_id.format or NAMEID_FORMAT_PERSISTENT}|{name_id.text}"[:300],
                                email=email, email_trusted=trusted, name=str(names[0])[:100] if names else None)
    conditions = response.assertion.conditions
    expires = _time(conditions.not_on_or_after if conditions is not None else None)
    return Assertion(str(response.assertion.id), expires or datetime.now(UTC) + timedelta(hours=1), identity)


def metadata_xml(sp: ServiceProvider) -> str:
    """Our SP metadata: entity id, the signing certificate, the ACS (HTTP-POST)."""
    with _client(sp) as client:
        document = create_metadata_string(None, config=client.config, sign=False)
    return document.decode() if isinstance(document, bytes) else str(document)


def _email(sp: ServiceProvider, attributes: dict[str, list[Any]], name_id: Any) -> str | None:
    names = (sp.email_attribute,) if sp.email_attribute else EMAIL_ATTRIBUTES
    for name in names:
        values = attributes.get(name or "")
        if values and isinstance(values[0], str) and "@" in values[0]:
            return values[0].strip().lower()[:320]
    if name_id.format and name_id.format.endswith("emailAddress") and "@" in name_id.text:
        return str(name_id.text).strip().lower()[:320]
    return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@contextmanager
def _client(sp: ServiceProvider) -> Iterator[Saml2Client]:
    workdir = Path(tempfile.mkdtemp(prefix="portcullis-saml-"))
    try:
        key_file, cert_file = workdir / "sp.key", workdir / "sp.crt"
        key_file.touch(mode=0o600)
        key_file.write_text(sp.key_pem)
        cert_file.write_text(sp.cert_pem)
        config = SPConfig()
        config.load({
            "entityid": sp.entity_id,
            "xmlsec_binary": XMLSEC,
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "metadata": {"inline": [sp.idp_metadata]},
            "accepted_time_diff": CLOCK_SKEW_SECONDS,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": False,
                "name_id_format_allow_create": True,
            }},
        })
        yield Saml2Client(config=config)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
