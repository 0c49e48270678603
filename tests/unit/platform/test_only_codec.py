"""The codec of an agent that reads busy topics for a few rare types (processors/codec.py OnlyCodec): the wanted
types decode exactly as through the envelope codec, a malformed wanted one is a DecodeFailure (dead-lettered), and
everything else, malformed or not, is skipped without the schema's validation."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from faust.serializers import codecs

from processors.alerts.incidents import FACT_TYPES
from processors.codec import CODEC_NAME, DecodeFailure, only_codec
from schemas.catalog import REGISTRY
from schemas.devices.events import DeviceStatus, DeviceStatusChanged, InterfaceRateComputed

AT = datetime(2026, 11, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def wire(data: object) -> bytes:
    return REGISTRY.encode(REGISTRY.event(data, subject="sw-1", source="test"))  # type: ignore[arg-type]


def test_only_the_named_types_are_decoded() -> None:
    only = codecs.get_codec(only_codec("test-facts", FACT_TYPES))
    full = codecs.get_codec(CODEC_NAME)
    changed = wire(DeviceStatusChanged(device_id="sw-1", at=AT, previous=DeviceStatus.up, current=DeviceStatus.down))
    rate = wire(InterfaceRateComputed(device_id="sw-1", if_index=1, at=AT, interval_s=60, in_bps=1.0, out_bps=2.0))
    assert only.loads(changed) == full.loads(changed)
    assert only.loads(rate) is None and not isinstance(full.loads(rate), DecodeFailure)
    assert only.loads(b"not json") is None and only.loads(b"[1, 2]") is None
    bad = changed.replace(b'"current":"down"', b'"current":"sideways"')
    assert bad != changed and isinstance(only.loads(bad), DecodeFailure)


WIRING_PROBE = """
from datetime import UTC, datetime
from infra.settings import Settings
from processors.app import create_app
from schemas.catalog import REGISTRY
from schemas.devices.events import DeviceStatus, DeviceStatusChanged, InterfaceRateComputed
app = create_app(Settings.model_validate({'KAFKA_BOOTSTRAP_SERVERS': '127.0.0.1:9'}))
channel = app.agents['topology-facts'].channel
at = datetime(2026, 11, 30, tzinfo=UTC)
def loads(data):
    raw = REGISTRY.encode(REGISTRY.event(data, subject='sw-1', source='test'))
    return app.serializers.loads_value(None, raw, serializer=channel.value_serializer)
down = loads(DeviceStatusChanged(device_id='sw-1', at=at, previous=DeviceStatus.up, current=DeviceStatus.down))
rate = loads(InterfaceRateComputed(device_id='sw-1', if_index=1, at=at, interval_s=60, in_bps=1.0, out_bps=2.0))
print(sorted(channel.topics), type(down.data).__name__, rate)
"""


def test_the_root_cause_agent_reads_its_topics_through_it() -> None:
    """The processors as wired (in a process of their own: create_app installs the Faust patches)."""
    done = subprocess.run([sys.executable, "-c", WIRING_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == (
        "['alerts.events', 'devices.rates', 'devices.samples'] DeviceStatusChanged None")
