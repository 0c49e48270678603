"""Camera snapshots on the real stack against the real GStreamer RTSP server: POST /api/cameras/{id}/snapshot and the
pollers' snapshot interval feed the image pipeline; consecutive black frames degrade the camera's picture and a
camera_image rule raises an alert; a camera that gives no frame is a 502 problem and a CameraSnapshotFailed."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.bench.camera_files import blurred, scene
from tests.helpers.rtsp_patterns import PatternServer
from tests.helpers.support import Stack, wait_until

USER, PASSWORD = "viewer", "snap shot:p@ss/1"


@pytest.fixture(scope="module")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PatternServer]:
    folder = tmp_path_factory.mktemp("pictures")
    pictures = {"sharp": folder / "sharp.jpg", "blurred": folder / "blurred.jpg", "moved": folder / "moved.jpg"}
    wide = scene(960, 720, seed=11)
    wide.crop((0, 0, 640, 480)).save(pictures["sharp"], quality=92)
    blurred(wide.crop((0, 0, 640, 480)), 8).save(pictures["blurred"], quality=92)
    wide.crop((160, 80, 800, 560)).save(pictures["moved"], quality=92)
    with PatternServer(pictures, USER, PASSWORD) as server:
        yield server


def register(api: httpx.Client, url: str, **extra: Any) -> str:
    made = api.post("/api/cameras/", params={"wait": "true"}, json={
        "name": f"cam-{secrets.token_hex(3)}", "url": url, "username": USER, "password": PASSWORD,
        "probe_interval_s": 3600, **extra})
    assert made.status_code == 201, made.text
    return str(made.json()["camera_id"])


def snapshot(api: httpx.Client, camera_id: str) -> httpx.Response:
    return api.post(f"/api/cameras/{camera_id}/snapshot", params={"wait": "true"}, timeout=60)


def test_a_snapshot_is_an_analysed_image_of_the_camera(api: httpx.Client, cameras: PatternServer) -> None:
    camera_id = register(api, cameras.url("/pattern"))
    taken = snapshot(api, camera_id)
    assert taken.status_code == 201, taken.text
    image = taken.json()
    assert (image["format"], image["width"], image["height"]) == ("JPEG", 640, 480)
    assert image["upload_list"][0]["via"] == "camera_snapshot" and image["upload_list"][0]["subject_id"] == camera_id
    listed = api.get("/api/images", params={"subject_type": "camera", "subject_id": camera_id}).json()["items"]
    assert [i["image_id"] for i in listed] == [image["image_id"]]


def test_black_frames_degrade_the_picture_and_raise_a_camera_image_alert(api: httpx.Client,
                                                                          cameras: PatternServer) -> None:
    rule_id = f"picture-{secrets.token_hex(4)}"
    made = api.post("/api/alerts/rules", params={"wait": "true"}, json={
        "rule_id": rule_id, "name": "Camera picture", "severity": "high",
        "params": {"kind": "camera_image", "kinds": ["black_or_blank"]}})
    assert made.status_code == 201, made.text
    camera_id = register(api, cameras.url("/black"))
    for _ in range(3):  # raise_after: three black frames in a row
        taken = snapshot(api, camera_id)
        assert taken.status_code == 201, taken.text
        assert taken.json()["brightness"] < 0.02

    def degraded() -> list[dict[str, Any]]:
        return [c for c in api.get("/api/images/status").json()["degraded_cameras"] if c["camera_id"] == camera_id]

    found = wait_until(degraded, timeout=30, what="the camera's picture to be degraded")
    assert [c["kind"] for c in found] == ["black_or_blank"] and "brightness" in found[0]["detail"]

    def alert() -> dict[str, Any] | None:
        items = api.get("/api/alerts/", params={"rule": rule_id}).json()["items"]
        return items[0] if items and items[0]["status"] == "firing" else None

    raised = wait_until(alert, timeout=30, what="the camera_image alert")
    assert raised["subject"] == f"{camera_id}/black_or_blank" and raised["labels"]["camera"] == camera_id


def test_a_camera_without_a_frame_is_a_502_problem_and_a_failed_snapshot(api: httpx.Client) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    camera_id = register(api, f"rtsp://127.0.0.1:{port}/nothing")
    answer = api.post(f"/api/cameras/{camera_id}/snapshot", timeout=60)
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert PASSWORD not in answer.text and "snap shot" not in answer.text
    events = wait_until(lambda: api.get("/api/events", params={"type": "CameraSnapshotFailed",
                                                                "subject": camera_id}).json()["items"],
                        timeout=20, what="the CameraSnapshotFailed event")
    assert PASSWORD not in str(events)


def test_the_pollers_take_snapshots_at_the_cameras_interval(api: httpx.Client, stack: Stack,
                                                            cameras: PatternServer) -> None:
    camera_id = register(api, cameras.url("/pattern"), snapshot_interval_s=10)
    assert api.get(f"/api/cameras/{camera_id}").json()["snapshot_interval_s"] == 10

    def snapshots() -> list[dict[str, Any]]:
        return [i for i in api.get("/api/images", params={"subject_type": "camera", "subject_id": camera_id}
                                   ).json()["items"] if i["status"] == "analysed"]

    assert wait_until(snapshots, timeout=60, what="a snapshot taken by the pollers")
