"""A tenant with customers, a customer-pool app asking for the `family` scope, and families."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User
from idp.db import db
from idp.families import service
from idp.families.models import Family
from idp.mail.models import OutboxMessage
from idp.oauth.clients import register_client
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work
from tests.helpers import PASSWORD, make_tenant, make_user
from tests.login.pipeline_support import Flow, claims_of, walk
from tests.mail.support import last_link
from tests.oauth.helpers import REDIRECT_URI, RP

FAMILY_SCOPE = "openid profile email offline_access family"


@dataclass
class World:
    tenant: Tenant
    portal: RP  # the Customer Portal: customer pool, scope family
    primary: User
    family: Family


def customer_portal(tenant: Tenant) -> RP:
    registered = register_client(tenant, {
        "client_name": "Customer Portal", "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"], "scope": FAMILY_SCOPE,
        "token_endpoint_auth_method": "client_secret_basic",
    }, first_party=True, pool="customer")
    db.session.commit()
    return RP(registered.client.client_id, registered.client_secret, f"/a/{tenant.account}")


def customer(tenant: Tenant, email: str, **fields: object) -> User:
    return make_user(tenant, email=email, pool="customer", email_verified=True, **fields)  # type: ignore[arg-type]


def make_family(tenant: Tenant, primary: User, name: str = "The Garcia family") -> Family:
    with unit_of_work():
        family = service.create_family(tenant, name=name, primary_email=primary.email)
    return family


def world(app: Flask) -> World:
    tenant = make_tenant()
    primary = customer(tenant, "ana@example.com", name="Ana Garcia")
    return World(tenant, customer_portal(tenant), primary, make_family(tenant, primary))


def invite(client: FlaskClient, email: str, prefix: str = "/a/acme"):  # type: ignore[no-untyped-def]
    """The primary (signed in in `client`) invites `email` from the family page."""
    from tests.helpers import csrf_from

    page = client.get(f"{prefix}/account/family")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return client.post(f"{prefix}/account/family/invitations",
                       data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email})


def invitation_link(app: Flask, email: str) -> str:
    link = last_link(app, to=email)
    assert "/family/invitation/" in link
    return link.split("localhost", 1)[1] if "localhost" in link else link


def sign_in_to_portal(client: FlaskClient, portal: RP, email: str, password: str = PASSWORD, **params: str) -> Flow:
    """Start the portal's authorization request and sign in as `email`; `flow.last` is where it stopped."""
    flow = Flow(client, portal, scope=FAMILY_SCOPE, **params)
    flow.last = flow.sign_in(email=email, password=password)  # type: ignore[attr-defined]
    return flow


def id_claims(flow: Flow, response) -> dict[str, object]:  # type: ignore[no-untyped-def]
    tokens = flow.tokens(response)
    claims = claims_of(tokens["id_token"])
    claims["_access"] = claims_of(tokens["access_token"])
    claims["_tokens"] = tokens
    return claims


def mails(kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == kind)).scalars())


def run_cli(config, *args: str):  # type: ignore[no-untyped-def]
    """`idp …` in this process against the test's database, as an operator runs it."""
    import base64

    from click.testing import CliRunner

    from idp.cli import main

    env = {"IDP_DATABASE_URL": config.database_url,
           "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode()}
    result = CliRunner().invoke(main, list(args), env=env)
    db.session.expire_all()
    return result


__all__ = ["walk"]
