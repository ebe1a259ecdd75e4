"""federation: connections, their email domains, linked identities and sign-ins in flight;
the connection (idp) of sessions and grants

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 04:59:12.872829
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connections',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('pool', sa.String(length=16), nullable=False),
    sa.Column('client_id', sa.String(length=300), nullable=True),
    sa.Column('client_secret_sealed', sa.Text(), nullable=True),
    sa.Column('discovery_url', sa.String(length=500), nullable=True),
    sa.Column('entra_tenant', sa.String(length=64), nullable=True),
    sa.Column('scope', sa.String(length=300), nullable=False),
    sa.Column('hosted_domains_json', sa.Text(), nullable=False),
    sa.Column('sso_required', sa.Boolean(), nullable=False),
    sa.Column('jit', sa.Boolean(), nullable=False),
    sa.Column('trust_upstream_mfa', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_connections_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections')),
    sa.UniqueConstraint('tenant_id', 'slug', name=op.f('uq_connections_tenant_id_slug'))
    )
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connections_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('connection_domains',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('connection_id', sa.String(length=32), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_connection_domains_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_connection_domains_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connection_domains')),
    sa.UniqueConstraint('tenant_id', 'domain', name=op.f('uq_connection_domains_tenant_id_domain'))
    )
    with op.batch_alter_table('connection_domains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connection_domains_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connection_domains_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('federated_identities',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('connection_id', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_federated_identities_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_federated_identities_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_federated_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federated_identities')),
    sa.UniqueConstraint('connection_id', 'subject', name=op.f('uq_federated_identities_connection_id_subject'))
    )
    with op.batch_alter_table('federated_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federated_identities_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_federated_identities_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_federated_identities_user_id'), ['user_id'], unique=False)

    op.create_table('federated_sign_ins',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('code_verifier_sealed', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('return_base', sa.String(length=300), nullable=False),
    sa.Column('persistent', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('identity_sealed', sa.Text(), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_federated_sign_ins_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_federated_sign_ins_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_federated_sign_ins')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_federated_sign_ins_state_hash'))
    )
    with op.batch_alter_table('federated_sign_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federated_sign_ins_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_federated_sign_ins_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('saml_settings',
    sa.Column('connection_id', sa.String(length=32), nullable=False),
    sa.Column('idp_entity_id', sa.String(length=500), nullable=False),
    sa.Column('idp_metadata', sa.Text(), nullable=False),
    sa.Column('metadata_url', sa.String(length=500), nullable=True),
    sa.Column('sp_key_sealed', sa.Text(), nullable=False),
    sa.Column('sp_cert_pem', sa.Text(), nullable=False),
    sa.Column('email_attribute', sa.String(length=200), nullable=True),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_saml_settings_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_saml_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', name=op.f('pk_saml_settings'))
    )
    with op.batch_alter_table('saml_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saml_settings_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('saml_assertions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('connection_id', sa.String(length=32), nullable=False),
    sa.Column('assertion_id', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], name=op.f('fk_saml_assertions_connection_id_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_saml_assertions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saml_assertions')),
    sa.UniqueConstraint('connection_id', 'assertion_id', name=op.f('uq_saml_assertions_connection_id_assertion_id'))
    )
    with op.batch_alter_table('saml_assertions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saml_assertions_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_saml_assertions_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idp', sa.String(length=64), nullable=True))

    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idp', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('idp')

    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.drop_column('idp')

    with op.batch_alter_table('saml_assertions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saml_assertions_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_saml_assertions_connection_id'))

    op.drop_table('saml_assertions')
    with op.batch_alter_table('saml_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saml_settings_tenant_id'))

    op.drop_table('saml_settings')
    with op.batch_alter_table('federated_sign_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federated_sign_ins_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_federated_sign_ins_connection_id'))

    op.drop_table('federated_sign_ins')
    with op.batch_alter_table('federated_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federated_identities_user_id'))
        batch_op.drop_index(batch_op.f('ix_federated_identities_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_federated_identities_connection_id'))

    op.drop_table('federated_identities')
    with op.batch_alter_table('connection_domains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connection_domains_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_connection_domains_connection_id'))

    op.drop_table('connection_domains')
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connections_tenant_id'))

    op.drop_table('connections')
