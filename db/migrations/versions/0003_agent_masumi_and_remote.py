"""agents: Masumi registry identifier, priced amounts with units, remote MIP-003 endpoint

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "agent_identifier", sqlmodel.sql.sqltypes.AutoString(length=184), nullable=True
            )
        )
        batch_op.add_column(sa.Column("price_amounts", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("remote_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True)
        )
        batch_op.add_column(sa.Column("remote_headers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("remote_headers")
        batch_op.drop_column("remote_url")
        batch_op.drop_column("price_amounts")
        batch_op.drop_column("agent_identifier")
