"""The outcome registry (SQLAlchemy; SQLite by default, PostgreSQL by URL): procedures,
follow-ups, Kaplan-Meier curves and the refit of the relief model."""
