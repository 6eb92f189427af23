"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import scaisend_core.models.types


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('scaikey_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scaikey_id')
    )
    op.create_index(op.f('ix_partners_slug'), 'partners', ['slug'], unique=False)
    op.create_table('permissions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_permissions_category'), 'permissions', ['category'], unique=False)
    op.create_table('processed_webhook_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('processed_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tenants',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('scaikey_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scaikey_id')
    )
    op.create_index(op.f('ix_tenants_partner_id'), 'tenants', ['partner_id'], unique=False)
    op.create_index(op.f('ix_tenants_slug'), 'tenants', ['slug'], unique=False)
    op.create_table('users',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('scaikey_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scaikey_id')
    )
    op.create_index(op.f('ix_users_email'), 'users', ['email'], unique=False)
    op.create_index(op.f('ix_users_partner_id'), 'users', ['partner_id'], unique=False)
    op.create_table('api_keys',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('environment', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('expires_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_index('ix_api_keys_tenant_created', 'api_keys', ['tenant_id', 'created_at'], unique=False)
    op.create_table('asm_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_asm_groups_tenant_name')
    )
    op.create_table('daily_stats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('deferred', sa.Integer(), nullable=False),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.Column('bounce_drops', sa.Integer(), nullable=False),
    sa.Column('blocks', sa.Integer(), nullable=False),
    sa.Column('drops', sa.Integer(), nullable=False),
    sa.Column('spam_reports', sa.Integer(), nullable=False),
    sa.Column('spam_report_drops', sa.Integer(), nullable=False),
    sa.Column('unsubscribes', sa.Integer(), nullable=False),
    sa.Column('unsubscribe_drops', sa.Integer(), nullable=False),
    sa.Column('invalid_emails', sa.Integer(), nullable=False),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.Column('unique_opens', sa.Integer(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('unique_clicks', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'day', 'category', name='uq_daily_stats_key')
    )
    op.create_table('email_messages',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('api_key_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('batch_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('personalization_index', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('from_email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('from_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('reply_to', sa.JSON(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('template_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('template_version_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('custom_args', sa.JSON(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('substitutions', sa.JSON(), nullable=False),
    sa.Column('dynamic_template_data', sa.JSON(), nullable=True),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('asm_group_id', sa.Integer(), nullable=True),
    sa.Column('asm_groups_to_display', sa.JSON(), nullable=False),
    sa.Column('ip_pool_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('mail_settings', sa.JSON(), nullable=False),
    sa.Column('tracking_settings', sa.JSON(), nullable=False),
    sa.Column('send_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('message_id_header', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('mime_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('mime_size', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('processed_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('sent_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_messages_message_id_header', 'email_messages', ['message_id_header'], unique=False)
    op.create_index('ix_messages_status_next_attempt', 'email_messages', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_messages_status_send_at', 'email_messages', ['status', 'send_at'], unique=False)
    op.create_index('ix_messages_tenant_batch', 'email_messages', ['tenant_id', 'batch_id'], unique=False)
    op.create_index('ix_messages_tenant_created', 'email_messages', ['tenant_id', 'created_at'], unique=False)
    op.create_index('ix_messages_tenant_from', 'email_messages', ['tenant_id', 'from_email'], unique=False)
    op.create_index('ix_messages_tenant_status_created', 'email_messages', ['tenant_id', 'status', 'created_at'], unique=False)
    op.create_index('ix_messages_tenant_template', 'email_messages', ['tenant_id', 'template_id'], unique=False)
    op.create_table('groups',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('scaikey_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scaikey_id')
    )
    op.create_index(op.f('ix_groups_tenant_id'), 'groups', ['tenant_id'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.JSON(), nullable=False),
    sa.Column('response_headers', sa.JSON(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'key', name='uq_idempotency_tenant_key')
    )
    op.create_index('ix_idempotency_expires', 'idempotency_keys', ['expires_at'], unique=False)
    op.create_table('images',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('original_filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('alt_text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('folder', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('thumbnail_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_images_tenant_folder', 'images', ['tenant_id', 'folder'], unique=False)
    op.create_table('mail_batches',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_batches_tenant_status', 'mail_batches', ['tenant_id', 'status'], unique=False)
    op.create_table('roles',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_roles_tenant_name')
    )
    op.create_table('sender_domains',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('domain', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('verified_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('dmarc_policy', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('dmarc_rua_email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('return_path_host', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
    sa.Column('dkim_selector', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
    sa.Column('dkim_algorithm', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('dkim_private_key', sa.Text(), nullable=False),
    sa.Column('dkim_public_key', sa.Text(), nullable=False),
    sa.Column('pending_selector', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=True),
    sa.Column('pending_private_key', sa.Text(), nullable=True),
    sa.Column('pending_public_key', sa.Text(), nullable=True),
    sa.Column('ed25519_selector', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=True),
    sa.Column('ed25519_private_key', sa.Text(), nullable=True),
    sa.Column('ed25519_public_key', sa.Text(), nullable=True),
    sa.Column('dns_checks', sa.JSON(), nullable=False),
    sa.Column('last_checked_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'domain', name='uq_sender_domains_tenant_domain')
    )
    op.create_index('ix_sender_domains_return_path', 'sender_domains', ['return_path_host'], unique=False)
    op.create_table('suppressions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('bounce_type', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'kind', 'email', name='uq_suppressions_tenant_kind_email')
    )
    op.create_index('ix_suppressions_tenant_email', 'suppressions', ['tenant_id', 'email'], unique=False)
    op.create_index('ix_suppressions_tenant_kind_created', 'suppressions', ['tenant_id', 'kind', 'created_at'], unique=False)
    op.create_table('templates',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('generation', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_templates_tenant_name', 'templates', ['tenant_id', 'name'], unique=False)
    op.create_table('tenant_settings',
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('open_tracking_enabled', sa.Boolean(), nullable=False),
    sa.Column('open_tracking_substitution_tag', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('click_tracking_enabled', sa.Boolean(), nullable=False),
    sa.Column('click_tracking_enable_text', sa.Boolean(), nullable=False),
    sa.Column('subscription_tracking_enabled', sa.Boolean(), nullable=False),
    sa.Column('subscription_tracking_html', sa.Text(), nullable=True),
    sa.Column('subscription_tracking_text', sa.Text(), nullable=True),
    sa.Column('subscription_tracking_substitution_tag', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('subscription_tracking_landing_html', sa.Text(), nullable=True),
    sa.Column('ganalytics_enabled', sa.Boolean(), nullable=False),
    sa.Column('ganalytics_utm_source', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('ganalytics_utm_medium', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('ganalytics_utm_term', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('ganalytics_utm_content', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('ganalytics_utm_campaign', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('image_embed_mode', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint("image_embed_mode IN ('proxy', 'cid')", name='ck_embed'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('webhook_endpoints',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('friendly_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('enabled_events', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('signing_secret', sa.Text(), nullable=True),
    sa.Column('signed', sa.Boolean(), nullable=False),
    sa.Column('ecdsa_private_key', sa.Text(), nullable=True),
    sa.Column('ecdsa_public_key', sa.Text(), nullable=True),
    sa.Column('oauth_client_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('oauth_client_secret', sa.Text(), nullable=True),
    sa.Column('oauth_token_url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('failure_count', sa.Integer(), nullable=False),
    sa.Column('last_success_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('last_failure_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('disabled_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_endpoints_tenant_kind', 'webhook_endpoints', ['tenant_id', 'kind'], unique=False)
    op.create_table('asm_suppressions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['asm_groups.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'group_id', 'email', name='uq_asm_suppressions')
    )
    op.create_index('ix_asm_suppressions_tenant_email', 'asm_suppressions', ['tenant_id', 'email'], unique=False)
    op.create_table('group_role_mappings',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('group_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('role_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'group_id', 'role_id', name='uq_group_role_mapping')
    )
    op.create_table('message_attachments',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('disposition', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('content_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['email_messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_attachments_message', 'message_attachments', ['message_id', 'position'], unique=False)
    op.create_table('message_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('recipient_email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('occurred_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('rolled_up', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['email_messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_events_message_time', 'message_events', ['message_id', 'occurred_at'], unique=False)
    op.create_index('ix_events_rolled_up', 'message_events', ['rolled_up', 'occurred_at'], unique=False)
    op.create_index('ix_events_tenant_type_time', 'message_events', ['tenant_id', 'event_type', 'occurred_at'], unique=False)
    op.create_table('message_recipients',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('smtp_response', sa.Text(), nullable=True),
    sa.Column('bounce_type', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['email_messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_recipients_message', 'message_recipients', ['message_id', 'kind'], unique=False)
    op.create_index('ix_recipients_tenant_email', 'message_recipients', ['tenant_id', 'email'], unique=False)
    op.create_table('role_permissions',
    sa.Column('role_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('permission_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.ForeignKeyConstraint(['permission_id'], ['permissions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('role_id', 'permission_id')
    )
    op.create_table('template_versions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('template_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('preheader', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('html_content', scaisend_core.models.types.LongText(), nullable=True),
    sa.Column('plain_content', scaisend_core.models.types.LongText(), nullable=True),
    sa.Column('generate_plain_content', sa.Boolean(), nullable=False),
    sa.Column('editor', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('test_data', sa.Text(), nullable=True),
    sa.Column('active', sa.Integer(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_template_versions_tenant_template', 'template_versions', ['tenant_id', 'template_id'], unique=False)
    op.create_table('user_groups',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('group_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'group_id')
    )
    op.create_index(op.f('ix_user_groups_group_id'), 'user_groups', ['group_id'], unique=False)
    op.create_table('user_roles',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('role_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role_id')
    )
    op.create_index('ix_user_roles_tenant_user', 'user_roles', ['tenant_id', 'user_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('endpoint_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('batch_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_response', sa.Text(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('attempt_log', sa.JSON(), nullable=False),
    sa.Column('created_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', scaisend_core.models.types.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', scaisend_core.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_deliveries_batch', 'webhook_deliveries', ['batch_id'], unique=False)
    op.create_index('ix_webhook_deliveries_endpoint_due', 'webhook_deliveries', ['endpoint_id', 'status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_event_id'), 'webhook_deliveries', ['event_id'], unique=False)
    op.create_index('ix_webhook_deliveries_status_next', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_webhook_deliveries_tenant_endpoint', 'webhook_deliveries', ['tenant_id', 'endpoint_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_deliveries')
    op.drop_table('user_roles')
    op.drop_table('user_groups')
    op.drop_table('template_versions')
    op.drop_table('role_permissions')
    op.drop_table('message_recipients')
    op.drop_table('message_events')
    op.drop_table('message_attachments')
    op.drop_table('group_role_mappings')
    op.drop_table('asm_suppressions')
    op.drop_table('webhook_endpoints')
    op.drop_table('tenant_settings')
    op.drop_table('templates')
    op.drop_table('suppressions')
    op.drop_table('sender_domains')
    op.drop_table('roles')
    op.drop_table('mail_batches')
    op.drop_table('images')
    op.drop_table('idempotency_keys')
    op.drop_table('groups')
    op.drop_table('email_messages')
    op.drop_table('daily_stats')
    op.drop_table('asm_groups')
    op.drop_table('api_keys')
    op.drop_table('users')
    op.drop_table('tenants')
    op.drop_table('processed_webhook_events')
    op.drop_table('permissions')
    op.drop_table('partners')
