"""Valid request bodies and events for tests, with overrides."""

from __future__ import annotations

import uuid
from typing import Any

from schemas.ingress.events import IngressReading


def reading_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_name": "Okafor household", "address": "12 Mill Ln", "node_id": f"N-{uuid.uuid4().hex[:6]}",
        "level_dbmv": -25.0, "freq_start_mhz": 26.9, "freq_end_mhz": 27.4, "split_plan": "sub",
        "test_point": "ground_block", "home_connected": False, "install_phase": "before", "technician": "m.chen",
        "notes": "",
    }
    body.update(overrides)
    return body


def reading(**overrides: Any) -> IngressReading:
    return IngressReading.model_validate(reading_body(**overrides))
