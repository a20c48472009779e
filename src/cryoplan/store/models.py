"""The registry's tables (SQLAlchemy 2 declarative mapping).

A procedure carries a patient pseudonym, never a name or a date of birth (there are no columns
for them); follow-ups record the date, the pain score (0-10) and whether the pain has returned.
``model_fits`` keeps every refit of the relief model, the newest of which predictions can use.
The schema is created and changed only by the Alembic migrations in ``migrations/versions``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Procedure(Base):
    __tablename__ = "procedures"
    __table_args__ = (CheckConstraint("nerves_treated >= 1", name="nerves_treated_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), index=True)
    treated_on: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # "simulation" or "plan"
    probe: Mapped[str] = mapped_column(String(64))
    gas: Mapped[str] = mapped_column(String(16))
    protocol: Mapped[str] = mapped_column(String(128), index=True)  # e.g. "2 x 120 s, 30 s thaw"
    total_freeze_s: Mapped[float] = mapped_column(Float)
    levels: Mapped[str] = mapped_column(String(128))  # e.g. "L3,L4,L5"
    nerves_treated: Mapped[int] = mapped_column(Integer)
    blocked_length_mm: Mapped[float | None] = mapped_column(Float)
    predicted_median_months: Mapped[float | None] = mapped_column(Float)
    depression: Mapped[bool | None]
    prior_lumbar_surgery: Mapped[bool | None]
    treated_joints: Mapped[int | None] = mapped_column(Integer)
    opioid_use: Mapped[bool | None]
    regrowth_distance_mm: Mapped[float | None] = mapped_column(Float)
    result_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    follow_ups: Mapped[list[FollowUp]] = relationship(
        back_populates="procedure", order_by="FollowUp.seen_on", cascade="all, delete-orphan")


class FollowUp(Base):
    __tablename__ = "follow_ups"
    __table_args__ = (CheckConstraint("pain_score >= 0 AND pain_score <= 10", name="pain_score_0_10"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id", ondelete="CASCADE"), index=True)
    seen_on: Mapped[dt.date] = mapped_column(Date)
    pain_score: Mapped[int] = mapped_column(Integer)
    pain_returned: Mapped[bool]

    procedure: Mapped[Procedure] = relationship(back_populates="follow_ups")


class ModelFit(Base):
    """A refit of the relief model: the median excess at the reference patient, sigma, and (as
    JSON) the patient-factor effects and the regrowth constants. Fits stored before migration
    0002 have exponents on the lesion length and the nerve count instead of effects."""

    __tablename__ = "model_fits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    records: Mapped[int] = mapped_column(Integer)
    median_ref_months: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)
    floor_months: Mapped[float] = mapped_column(Float)
    effects_json: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str | None] = mapped_column(String(128))
    length_exponent: Mapped[float | None] = mapped_column(Float)  # fits before 0002 only
    nerves_exponent: Mapped[float | None] = mapped_column(Float)
    reference_length_m: Mapped[float | None] = mapped_column(Float)
    reference_nerves: Mapped[int | None] = mapped_column(Integer)
