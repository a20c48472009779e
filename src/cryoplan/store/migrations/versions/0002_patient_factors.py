"""Patient factors and the lesion's regrowth distance on procedures; relief-model fits with
patient-factor effects (the lesion-length and nerve-count exponents of the first model are kept
for old fits, no longer required).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEGACY_FIT_COLUMNS = (("length_exponent", sa.Float), ("nerves_exponent", sa.Float),
                      ("reference_length_m", sa.Float), ("reference_nerves", sa.Integer))


def upgrade() -> None:
    with op.batch_alter_table("procedures") as batch:
        batch.add_column(sa.Column("depression", sa.Boolean))
        batch.add_column(sa.Column("prior_lumbar_surgery", sa.Boolean))
        batch.add_column(sa.Column("treated_joints", sa.Integer))
        batch.add_column(sa.Column("opioid_use", sa.Boolean))
        batch.add_column(sa.Column("regrowth_distance_mm", sa.Float))
    with op.batch_alter_table("model_fits") as batch:
        for name, kind in LEGACY_FIT_COLUMNS:
            batch.alter_column(name, existing_type=kind, nullable=True)
        batch.add_column(sa.Column("effects_json", sa.Text))
        batch.add_column(sa.Column("origin", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("model_fits") as batch:
        batch.drop_column("origin")
        batch.drop_column("effects_json")
    with op.batch_alter_table("procedures") as batch:
        for name in ("regrowth_distance_mm", "opioid_use", "treated_joints", "prior_lumbar_surgery",
                     "depression"):
            batch.drop_column(name)
