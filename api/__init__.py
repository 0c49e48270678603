"""A thin FastAPI layer: serves read models and turns commands into events."""
