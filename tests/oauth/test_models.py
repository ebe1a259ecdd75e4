"""idp/oauth/models.py: a client's metadata, decoded once per stored value."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from idp.db import db, detached_instance
from idp.oauth.models import Client
from tests.helpers import make_tenant
from tests.oauth.helpers import make_rp


def test_metadata_is_decoded_again_whenever_the_stored_value_changes(app: Flask) -> None:
    rp = make_rp(make_tenant(), scope="openid profile")
    client = Client.query.filter_by(client_id=rp.client_id).one()
    assert client.scope == "openid profile"
    client.client_metadata = {**client.client_metadata, "scope": "openid email"}
    assert client.scope == "openid email", "assigned through the property"
    client.metadata_json = json.dumps({**client.client_metadata, "scope": "openid"})
    assert client.scope == "openid", "assigned to the column itself"
    db.session.commit()
    db.session.expunge_all()
    assert Client.query.filter_by(client_id=rp.client_id).one().scope == "openid", "and stored"


def test_metadata_cannot_be_changed_in_place(app: Flask) -> None:
    """The decoded value is shared by every read: a change must go through assignment, where it is
    stored and the caches are told."""
    rp = make_rp(make_tenant())
    client = Client.query.filter_by(client_id=rp.client_id).one()
    with pytest.raises(TypeError):
        client.client_metadata["scope"] = "openid users:write"  # type: ignore[index]
    snapshot = detached_instance(Client, {"id": client.id, "metadata_json": client.metadata_json})
    assert snapshot.client_metadata == client.client_metadata
