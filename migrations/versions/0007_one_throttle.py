"""one throttle: throttle_counters replaces sign_in_failures and request_counters

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:50:00

The counters are not carried over: they only ever hold the last hour of attempts, their keys are
hashed with a prefix that names the old table, and an empty counter only means a few more free
attempts (or mails) for at most that hour after the upgrade. The downgrade likewise starts the
old tables empty.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _counter_table(name: str, kind_column: str, kind_length: int, count_column: str, at_column: str) -> None:
    op.create_table(name,
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column(kind_column, sa.String(length=kind_length), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column(count_column, sa.Integer(), nullable=False),
    sa.Column(at_column, sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f(f'fk_{name}_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
    sa.UniqueConstraint('tenant_id', kind_column, 'key_hash', name=op.f(f'uq_{name}_tenant_id_{kind_column}_key_hash'))
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{name}_tenant_id'), ['tenant_id'], unique=False)


def _drop(name: str) -> None:
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(f'ix_{name}_tenant_id'))
    op.drop_table(name)


def upgrade() -> None:
    _counter_table('throttle_counters', 'bucket', 32, 'count', 'last_at')
    _drop('sign_in_failures')
    _drop('request_counters')


def downgrade() -> None:
    _counter_table('sign_in_failures', 'kind', 16, 'failures', 'last_failure_at')
    _counter_table('request_counters', 'bucket', 32, 'count', 'last_at')
    _drop('throttle_counters')
