"""Projections: aiokafka consumers that build Postgres read models, offsets stored with the data."""
