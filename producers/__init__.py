"""Producers: everything that emits events into Kafka (API command handlers, scanners, pollers, demo data)."""
