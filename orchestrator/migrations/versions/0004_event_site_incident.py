"""events.site_x, site_y, incident: the act on the site plan, and the incident it belongs to

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('site_x', sa.Float(), nullable=True))
    op.add_column('events', sa.Column('site_y', sa.Float(), nullable=True))
    op.add_column('events', sa.Column('incident', sa.String(length=26), nullable=True))
    op.create_index('ix_events_incident', 'events', ['incident'])


def downgrade() -> None:
    op.drop_index('ix_events_incident', table_name='events')
    op.drop_column('events', 'incident')
    op.drop_column('events', 'site_y')
    op.drop_column('events', 'site_x')
