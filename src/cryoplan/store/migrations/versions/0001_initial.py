"""The first registry schema: procedures, follow-ups, model fits.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pseudonym", sa.String(32), nullable=False, index=True),
        sa.Column("treated_on", sa.Date, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("probe", sa.String(64), nullable=False),
        sa.Column("gas", sa.String(16), nullable=False),
        sa.Column("protocol", sa.String(128), nullable=False, index=True),
        sa.Column("total_freeze_s", sa.Float, nullable=False),
        sa.Column("levels", sa.String(128), nullable=False),
        sa.Column("nerves_treated", sa.Integer, nullable=False),
        sa.Column("blocked_length_mm", sa.Float),
        sa.Column("predicted_median_months", sa.Float),
        sa.Column("result_json", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("nerves_treated >= 1", name="nerves_treated_positive"),
    )
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("procedure_id", sa.Integer, sa.ForeignKey("procedures.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("seen_on", sa.Date, nullable=False),
        sa.Column("pain_score", sa.Integer, nullable=False),
        sa.Column("pain_returned", sa.Boolean, nullable=False),
        sa.CheckConstraint("pain_score >= 0 AND pain_score <= 10", name="pain_score_0_10"),
    )
    op.create_table(
        "model_fits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("median_ref_months", sa.Float, nullable=False),
        sa.Column("sigma", sa.Float, nullable=False),
        sa.Column("length_exponent", sa.Float, nullable=False),
        sa.Column("nerves_exponent", sa.Float, nullable=False),
        sa.Column("reference_length_m", sa.Float, nullable=False),
        sa.Column("reference_nerves", sa.Integer, nullable=False),
        sa.Column("floor_months", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_fits")
    op.drop_table("follow_ups")
    op.drop_table("procedures")
