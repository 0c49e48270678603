"""Camera snapshots obey the same outbound rule as RTSP probes (producers/devices/outbound.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from producers.devices.outbound import Outbound, OutboundRefused
from producers.images.snapshots import SnapshotSource, pinned, take_snapshot
from schemas.images.events import ImageUploaded


def test_the_url_is_pinned_to_the_checked_address_with_its_login_and_path_kept() -> None:
    url = asyncio.run(pinned("rtsp://user:pw@localhost:8554/live?x=1", Outbound.of("127.0.0.0/8")))
    assert url == "rtsp://user:pw@127.0.0.1:8554/live?x=1"
    assert asyncio.run(pinned("rtsp://[::1]/a", Outbound.of("::1/128"))) == "rtsp://[::1]/a"


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:8554/x", "rtsp://169.254.169.254/latest", "rtsp://[::1]/x"])
def test_a_camera_on_a_refused_address_is_a_failed_snapshot_and_no_connection(url: str, tmp_path: Path) -> None:
    with pytest.raises(OutboundRefused):
        asyncio.run(pinned(url, Outbound()))
    event = asyncio.run(take_snapshot(SnapshotSource("cam-1", url, url), root=tmp_path, timeout_s=2.0,
                                      outbound=Outbound()))
    assert not isinstance(event.data, ImageUploaded)
    assert "OPSLEDGER_OUTBOUND_ALLOW_NETWORKS" in getattr(event.data, "error", "")
    assert not any(tmp_path.iterdir())
