"""families: families, members, invitations, adult attestations and choices; the family of
sessions and grants; the account picker of a pending request; tenant-owned policy documents

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 07:29:20.254806
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adult_attestations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('attested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_adult_attestations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_adult_attestations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adult_attestations')),
    sa.UniqueConstraint('tenant_id', 'user_id', name=op.f('uq_adult_attestations_tenant_id_user_id'))
    )
    with op.batch_alter_table('adult_attestations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adult_attestations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('families',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('primary_user_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['primary_user_id'], ['users.id'], name=op.f('fk_families_primary_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_families_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_families')),
    sa.UniqueConstraint('tenant_id', 'primary_user_id', name=op.f('uq_families_tenant_id_primary_user_id'))
    )
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_families_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('family_choices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('chosen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_family_choices_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_family_choices_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_family_choices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_choices')),
    sa.UniqueConstraint('tenant_id', 'user_id', name=op.f('uq_family_choices_tenant_id_user_id'))
    )
    with op.batch_alter_table('family_choices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_choices_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('family_invitations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('access', sa.String(length=16), nullable=False),
    sa.Column('invited_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by', sa.String(length=32), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by'], ['users.id'], name=op.f('fk_family_invitations_accepted_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_family_invitations_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by'], ['users.id'], name=op.f('fk_family_invitations_invited_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_family_invitations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_invitations')),
    sa.UniqueConstraint('tenant_id', 'token_hash', name=op.f('uq_family_invitations_tenant_id_token_hash'))
    )
    with op.batch_alter_table('family_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_invitations_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_invitations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('family_members',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('access', sa.String(length=16), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_family_members_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_family_members_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_family_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_members')),
    sa.UniqueConstraint('tenant_id', 'family_id', 'user_id', name=op.f('uq_family_members_tenant_id_family_id_user_id'))
    )
    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_members_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_members_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_family_members_tenant_user', ['tenant_id', 'user_id'], unique=False)

    with op.batch_alter_table('authorization_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selected_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_id', sa.String(length=32), nullable=True))

    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_id', sa.String(length=32), nullable=True))

    with op.batch_alter_table('policy_documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant_id', sa.String(length=32), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_policy_documents_kind_version'), type_='unique')
        batch_op.create_index(batch_op.f('ix_policy_documents_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_policy_documents_tenant_id_kind_version'), ['tenant_id', 'kind', 'version'])
        batch_op.create_foreign_key(batch_op.f('fk_policy_documents_tenant_id_tenants'), 'tenants', ['tenant_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('policy_documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_policy_documents_tenant_id_tenants'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_policy_documents_tenant_id_kind_version'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_policy_documents_tenant_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_policy_documents_kind_version'), ['kind', 'version'])
        batch_op.drop_column('tenant_id')

    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('family_id')

    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.drop_column('family_id')

    with op.batch_alter_table('authorization_requests', schema=None) as batch_op:
        batch_op.drop_column('selected_at')

    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.drop_index('ix_family_members_tenant_user')
        batch_op.drop_index(batch_op.f('ix_family_members_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_family_members_family_id'))

    op.drop_table('family_members')
    with op.batch_alter_table('family_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_invitations_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_family_invitations_family_id'))

    op.drop_table('family_invitations')
    with op.batch_alter_table('family_choices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_choices_tenant_id'))

    op.drop_table('family_choices')
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_families_tenant_id'))

    op.drop_table('families')
    with op.batch_alter_table('adult_attestations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adult_attestations_tenant_id'))

    op.drop_table('adult_attestations')
