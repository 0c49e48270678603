"""The topics the Faust processors consume (their consumer-group lag is what "drained" means)."""

from __future__ import annotations

from schemas.topics import INGRESS_READINGS

PROCESSOR_INPUTS = (INGRESS_READINGS,)
