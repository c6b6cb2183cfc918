"""events.point: the anchor point where the act happened

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('point', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('events', 'point')
