"""Processors: one Faust app deriving new events from events (at_least_once; derived ids are deterministic)."""
