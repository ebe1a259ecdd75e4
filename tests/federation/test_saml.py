"""SAML 2.0 connections against a real pysaml2 IdP with its own key (tests/federation/saml_idp.py),
on SQLite and PostgreSQL: the happy path, every refusal SAML asks of a service provider, replay,
signature wrapping, and email trust only within the claimed domains."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.db import db
from idp.federation.connections import NewConnection, add_connection
from idp.federation.models import FederatedIdentity, SamlAssertion
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work
from tests.federation.saml_idp import SamlIdp, running_idp
from tests.federation.test_federation import go_upstream, signed_in_session
from tests.helpers import make_tenant, make_user

DOMAIN = "acme-gyms.example"
ACS = "http://localhost/a/acme/federation/saml/saml/acs"
FORM_FIELD = re.compile(r'name="(SAMLResponse|RelayState)" value="([^"]*)"')
FORM_ACTION = re.compile(r'action="([^"]+)"')


@pytest.fixture(scope="session")
def saml_idp() -> Iterator[SamlIdp]:
    yield from running_idp()


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    tenant = make_tenant()
    make_user(tenant, email="dana@acme-gyms.example")
    make_user(tenant)  # coach@example.com
    return tenant


@pytest.fixture
def connected(client: FlaskClient, tenant: Tenant, saml_idp: SamlIdp) -> SamlIdp:
    with unit_of_work():
        add_connection(tenant, NewConnection(kind="saml", name="Acme SSO", slug="saml",
                                             metadata_url=f"{saml_idp.base}/metadata", email_domains=(DOMAIN,)))
    metadata = client.get("/a/acme/federation/saml/saml/metadata")
    assert metadata.status_code == 200
    saml_idp.sp_metadata = metadata.get_data(as_text=True)
    return saml_idp


def to_idp(client: FlaskClient, idp: SamlIdp, **answer: Any) -> dict[str, str]:
    """Start at the sign-in page, let the IdP answer; the form it makes the browser post."""
    idp.answer_next(**answer)
    departure = go_upstream(client, "saml")
    assert departure.status_code == 303 and departure.headers["Location"].startswith(idp.base)
    assert "Signature=" in departure.headers["Location"], "the AuthnRequest is signed"
    page = requests.get(departure.headers["Location"], timeout=10)
    assert page.status_code == 200, page.text[:500]
    action = html.unescape(FORM_ACTION.search(page.text).group(1))  # type: ignore[union-attr]
    assert action == ACS
    return {name: html.unescape(value) for name, value in FORM_FIELD.findall(page.text)}


def post_to_acs(client: FlaskClient, form: dict[str, str]) -> Any:
    answered = client.post(urlsplit(ACS).path, data=form)
    if answered.status_code != 303:
        return answered
    return client.get(answered.headers["Location"])


def test_metadata_names_our_entity_acs_and_certificate(connected: SamlIdp) -> None:
    metadata = connected.sp_metadata or ""
    assert 'entityID="http://localhost/a/acme/federation/saml/saml/metadata"' in metadata
    assert f'Location="{ACS}"' in metadata and "X509Certificate" in metadata
    assert 'AuthnRequestsSigned="true"' in metadata


def test_a_signed_assertion_in_a_claimed_domain_links_and_signs_in(client: FlaskClient, connected: SamlIdp) -> None:
    done = post_to_acs(client, to_idp(client, connected))
    assert done.status_code == 303 and "/continue" in done.headers["Location"], done.get_data(as_text=True)[:800]
    db.session.expire_all()
    session = signed_in_session()
    assert session.amr == "fed" and session.idp == "saml"
    identity = db.session.execute(select(FederatedIdentity)).scalar_one()
    assert identity.subject.endswith("|saml-person-1") and identity.email == "dana@acme-gyms.example"
    assert db.session.execute(select(SamlAssertion)).scalar_one().assertion_id


@pytest.mark.parametrize("fault", ["unsigned", "other-key", "expired", "wrong-audience", "wrong-recipient",
                                   "unsolicited"])
def test_what_saml_forbids_is_refused(client: FlaskClient, connected: SamlIdp, fault: str) -> None:
    refused = post_to_acs(client, to_idp(client, connected, fault=fault))
    assert refused.status_code == 400, refused.get_data(as_text=True)[:500]
    assert signed_in_session() is None
    assert db.session.execute(select(FederatedIdentity)).first() is None


def test_a_response_is_used_once(app: Flask, client: FlaskClient, connected: SamlIdp) -> None:
    form = to_idp(client, connected)
    assert post_to_acs(client, form).status_code == 303
    assert client.post(urlsplit(ACS).path, data=form).status_code == 400
    # On a new trip (another browser) the old answer is not the answer to the new request either.
    other = app.test_client()
    fresh = to_idp(other, connected)
    assert other.post(urlsplit(ACS).path, data={**form, "RelayState": fresh["RelayState"]}).status_code == 400


def test_a_wrapped_assertion_is_never_the_one_read(client: FlaskClient, connected: SamlIdp, tenant: Tenant) -> None:
    """XML signature wrapping: an unsigned assertion for someone else placed before the signed one."""
    make_user(tenant, email="ceo@acme-gyms.example")
    form = to_idp(client, connected)
    xml = base64.b64decode(form["SAMLResponse"]).decode()
    match = re.search(r"<(\w+:)?Assertion\b.*?</(\w+:)?Assertion>", xml, re.S)
    assert match
    evil = re.sub(r'ID="[^"]+"', 'ID="_evil"', match.group(0), count=1)
    evil = re.sub(r"<ds:Signature.*?</ds:Signature>", "", evil, flags=re.S)
    evil = evil.replace("saml-person-1", "ceo-person").replace("dana@acme-gyms.example", "ceo@acme-gyms.example")
    wrapped = xml.replace(match.group(0), evil + match.group(0), 1)
    answer = post_to_acs(client, {**form, "SAMLResponse": base64.b64encode(wrapped.encode()).decode()})
    assert answer.status_code in (303, 400)
    identities = [i.subject for i in db.session.execute(select(FederatedIdentity)).scalars()]
    assert not [s for s in identities if "ceo-person" in s]
    session = signed_in_session()
    if session is not None:
        from idp.accounts.models import User

        assert db.session.get(User, session.user_id).email == "dana@acme-gyms.example"  # type: ignore[union-attr]


def test_an_email_outside_the_claimed_domains_proves_nothing(client: FlaskClient, connected: SamlIdp) -> None:
    page = post_to_acs(client, to_idp(client, connected, name_id="other-person", email="coach@example.com"))
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert db.session.execute(select(FederatedIdentity)).first() is None


def test_a_saml_connection_needs_valid_metadata(app: Flask, tenant: Tenant, saml_idp: SamlIdp) -> None:
    from idp.errors import InvalidInput

    for metadata in ("<not xml", "<EntityDescriptor/>", '<!DOCTYPE x [<!ENTITY a "b">]><x/>'):
        with pytest.raises(InvalidInput):
            add_connection(tenant, NewConnection(kind="saml", name="Bad", slug="bad", metadata_xml=metadata))
    with pytest.raises(InvalidInput):
        add_connection(tenant, NewConnection(kind="saml", name="Bad", slug="bad", client_id="x", client_secret="y",
                                             metadata_url=f"{saml_idp.base}/metadata"))
