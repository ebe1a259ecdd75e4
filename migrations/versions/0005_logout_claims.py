"""back-channel logout: queue the logout token's claims, sign a fresh token at each attempt

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:00:00
"""

import base64
import json

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TIMED_CLAIMS = ("iat", "exp", "jti")


def _claims_of(token: str) -> str:
    """The lasting claims of a token this server signed itself (so no signature check needed)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        claims = {}
    return json.dumps({k: v for k, v in claims.items() if k not in TIMED_CLAIMS}, sort_keys=True)


def upgrade() -> None:
    with op.batch_alter_table('logout_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claims_json', sa.Text(), nullable=True))
    deliveries = sa.table('logout_deliveries', sa.column('id', sa.String), sa.column('logout_token', sa.Text),
                          sa.column('claims_json', sa.Text))
    connection = op.get_bind()
    for row in connection.execute(sa.select(deliveries.c.id, deliveries.c.logout_token)).all():
        connection.execute(deliveries.update().where(deliveries.c.id == row.id)
                           .values(claims_json=_claims_of(row.logout_token)))
    with op.batch_alter_table('logout_deliveries', schema=None) as batch_op:
        batch_op.alter_column('claims_json', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('logout_token')


def downgrade() -> None:
    # Undelivered notices cannot be re-signed here: they are dropped with their claims.
    op.execute("DELETE FROM logout_deliveries WHERE delivered_at IS NULL")
    with op.batch_alter_table('logout_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logout_token', sa.Text(), nullable=False, server_default=''))
        batch_op.drop_column('claims_json')
