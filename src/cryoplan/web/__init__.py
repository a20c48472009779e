"""The local web planner: ``cryoplan serve`` (FastAPI + uvicorn), its page and its JSON API."""
