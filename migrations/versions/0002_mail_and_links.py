"""mail outbox, account links, request counters; link lifetimes; shared imported emails

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('payload_sealed', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_outbox_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_mail_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_outbox_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('mail_delivery_attempts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('transport', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['mail_outbox.id'], name=op.f('fk_mail_delivery_attempts_message_id_mail_outbox'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_delivery_attempts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_delivery_attempts'))
    )
    with op.batch_alter_table('mail_delivery_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_delivery_attempts_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_delivery_attempts_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('account_links',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_account_links_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_links')),
    sa.UniqueConstraint('tenant_id', 'token_hash', name=op.f('uq_account_links_tenant_id_token_hash'))
    )
    with op.batch_alter_table('account_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_links_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_links_user_id'), ['user_id'], unique=False)

    op.create_table('request_counters',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('bucket', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_request_counters_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_counters')),
    sa.UniqueConstraint('tenant_id', 'bucket', 'key_hash', name=op.f('uq_request_counters_tenant_id_bucket_key_hash'))
    )
    with op.batch_alter_table('request_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_counters_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reset_link_seconds', sa.Integer(), server_default='3600', nullable=False))
        batch_op.add_column(sa.Column('verify_link_seconds', sa.Integer(), server_default='86400', nullable=False))
        batch_op.add_column(sa.Column('invitation_link_seconds', sa.Integer(), server_default='604800', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=35), nullable=True))

    # Making a column nullable rebuilds the table on SQLite: see _without_sqlite_foreign_keys.
    _without_sqlite_foreign_keys(lambda: _set_email_normalized_nullable(True))


def downgrade() -> None:
    op.execute("DELETE FROM users WHERE email_normalized IS NULL")
    _without_sqlite_foreign_keys(lambda: _set_email_normalized_nullable(False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('invitation_link_seconds')
        batch_op.drop_column('verify_link_seconds')
        batch_op.drop_column('reset_link_seconds')

    op.drop_table('request_counters')
    op.drop_table('account_links')
    op.drop_table('mail_delivery_attempts')
    op.drop_table('mail_outbox')


def _set_email_normalized_nullable(nullable: bool) -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('email_normalized', existing_type=sa.String(length=254), nullable=nullable)


def _without_sqlite_foreign_keys(change: Callable[[], None]) -> None:
    """Run `change` with SQLite's foreign keys off, as SQLite's ALTER TABLE procedure requires.

    SQLite rebuilds a table to change a column; with foreign keys on, dropping the old `users`
    table would cascade into every session and link that points at it (sqlite.org/lang_altertable.html
    §7). The pragma is ignored inside a transaction, so close the one the driver opened first.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        change()
        return
    raw = bind.connection.dbapi_connection
    if raw is None:
        raise RuntimeError("no SQLite connection to migrate")
    raw.commit()
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        change()
        raw.commit()
    finally:
        raw.execute("PRAGMA foreign_keys=ON")
    problems = raw.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the users rebuild: {problems[:5]}")
