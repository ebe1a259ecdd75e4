"""grants: drop last_used_at; a grant's last use is when its current refresh token was issued

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every refresh wrote the same instant to the grant and to the token it issued, so the
    # unspent token's created_at already holds what this column did.
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')


def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE grants SET last_used_at = COALESCE("
        "(SELECT MAX(refresh_tokens.created_at) FROM refresh_tokens WHERE refresh_tokens.grant_id = grants.id), "
        "grants.created_at)"
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.alter_column('last_used_at', existing_type=sa.DateTime(timezone=True), nullable=False)
