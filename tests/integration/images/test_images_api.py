"""Images through HTTP on the real stack: upload -> processor (worker pool) -> read model; what a caller sees."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from infra.bench.camera_files import CameraExif, camera_jpeg, encode, scene
from infra.filestore import path_for
from tests.helpers.support import Stack, wait_until

MIB = 1024 * 1024


def post_image(client: httpx.Client, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg",
               params: dict[str, Any] | None = None, **form: str) -> httpx.Response:
    return client.post("/api/images", params=params, files={"file": (name, data, content_type)}, data=form,
                       timeout=30)


def analysed(client: httpx.Client, data: bytes, **form: str) -> dict[str, Any]:
    answer = post_image(client, data, params={"wait": "true"}, **form)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


def unique_photo(spec: CameraExif | None = None, width: int = 640, height: int = 480) -> bytes:
    return camera_jpeg(width, height, spec or CameraExif(), seed=uuid.uuid4().int % 100_000)


def client_of(stack: Stack, role: str) -> httpx.Client:
    """A client signed in as a new user with `role` (the admin's `api` client always sends the admin's token)."""
    return httpx.Client(base_url=stack.api_url, headers=stack.user(role), timeout=30)


def exiftool_of(data: bytes, folder: Path) -> dict[str, Any]:
    path = folder / f"{uuid.uuid4().hex}.jpg"
    path.write_bytes(data)
    output = subprocess.run(["exiftool", "-j", "-a", "-G1", "-n", str(path)], capture_output=True, timeout=30,
                            check=True)
    return dict(json.loads(output.stdout)[0])


def test_an_upload_is_analysed_with_the_facts_a_person_expects(api: httpx.Client) -> None:
    photo = unique_photo(CameraExif(orientation=6, latitude_ref="S", longitude_ref="W"))
    accepted = post_image(api, photo, caption="tap at 12 Mill Ln")
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["consistency_token"] and body["location"] == f"/api/images/{body['image_id']}"
    image = wait_until(lambda: (r := api.get(body["location"], params={"after": body["consistency_token"]}).json())
                       and r["status"] == "analysed" and r, timeout=60, what="the analysis")
    assert image["sha256"] == hashlib.sha256(photo).hexdigest() and image["format"] == "JPEG"
    assert (image["width"], image["height"], image["orientation"]) == (480, 640, 6)  # as displayed
    assert (image["make"], image["model"], image["iso"], image["exposure_time"]) == ("Opsledger", "FieldCam 12", 200,
                                                                                      "1/250")
    assert image["taken_at"] == "2024-06-01T14:30:05+02:00"
    assert image["gps_latitude"] == pytest.approx(-(48 + 51 / 60 + 23.88 / 3600))
    assert image["gps_longitude"] == pytest.approx(-(2 + 21 / 60 + 7.68 / 3600))
    assert image["has_body_serial"] is True and len(image["phash"]) == 16 and image["sharpness"] > 0
    assert image["upload_list"][0]["caption"] == "tap at 12 Mill Ln" and image["uploads"] == 1
    for size in ("128", "512"):
        thumb = api.get(image["thumbnails"][size])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        picture = Image.open(io.BytesIO(thumb.content))
        assert picture.format == "WEBP" and picture.size == (int(size) * 3 // 4, int(size))  # upright


def test_below_operator_the_original_has_no_gps_or_serials(api: httpx.Client, stack: Stack,
                                                           tmp_path: Path) -> None:
    photo = unique_photo()
    image = analysed(api, photo)
    viewer = client_of(stack, "viewer")
    as_viewer = viewer.get(image["original"])
    assert as_viewer.status_code == 200 and as_viewer.headers["content-type"] == "image/jpeg"
    tags = exiftool_of(as_viewer.content, tmp_path)
    assert not [name for name in tags if "GPS" in name or "Serial" in name]
    assert tags["IFD0:Make"] == "Opsledger" and tags["IFD0:Orientation"] == 1
    assert api.get(image["original"], params={"untouched": "true"}).content == photo  # admin: the bytes as sent
    assert_problem(viewer.get(image["original"], params={"untouched": "true"}), 403)
    shown = viewer.get(f"/api/images/{image['image_id']}").json()
    assert shown["gps_latitude"] is None and shown["make"] == "Opsledger"
    assert_problem(viewer.get("/api/images", params={"near": "48.8,2.3,10"}), 403)


def test_the_same_bytes_twice_are_one_image_with_two_uploads(api: httpx.Client, stack: Stack) -> None:
    photo = unique_photo()
    first, second = analysed(api, photo, caption="first"), analysed(api, photo, caption="again")
    assert first["image_id"] == second["image_id"] and second["uploads"] == 2
    assert [u["caption"] for u in second["upload_list"]] == ["first", "again"]
    store = stack.data_dir / "files"
    assert path_for(store, first["sha256"]).read_bytes() == photo
    assert not list(store.rglob(".upload-*"))


def test_near_duplicates_are_linked_and_listed(api: httpx.Client) -> None:
    picture = scene(1200, 900, seed=uuid.uuid4().int % 100_000)
    original = analysed(api, encode(picture, "JPEG", quality=92))
    copy = analysed(api, encode(picture.resize((600, 450)), "JPEG", quality=60), name="copy.jpg")
    other = analysed(api, unique_photo())
    assert copy["image_id"] != original["image_id"]
    assert [d["image_id"] for d in copy["duplicates"]] == [original["image_id"]]
    listed = api.get("/api/images", params={"duplicate_of": original["image_id"]}).json()["items"]
    assert [i["image_id"] for i in listed] == [copy["image_id"]]
    assert other["duplicates"] == []


def test_filters_and_cursor_paging(api: httpx.Client) -> None:
    make = f"Maker-{uuid.uuid4().hex[:6]}"
    paris = CameraExif(make=make, model="A")
    nowhere = CameraExif(make=make, model="B", latitude=None, longitude=None, taken="2019:01:02 03:04:05",
                         offset=None)
    ids = [analysed(api, unique_photo(spec))["image_id"] for spec in (paris, paris, nowhere)]
    by_make = api.get("/api/images", params={"make": make.upper(), "limit": 2}).json()
    assert [i["image_id"] for i in by_make["items"]] == ids[::-1][:2] and by_make["next_cursor"]
    rest = api.get("/api/images", params={"make": make, "limit": 2, "cursor": by_make["next_cursor"]}).json()
    assert [i["image_id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    near = api.get("/api/images", params={"make": make, "near": "48.85,2.35,5"}).json()["items"]  # Paris, 5 km
    assert sorted(i["image_id"] for i in near) == sorted(ids[:2])
    assert api.get("/api/images", params={"make": make, "near": "40.71,-74.0,50"}).json()["items"] == []
    no_gps = api.get("/api/images", params={"make": make, "has_gps": "false"}).json()["items"]
    assert [i["image_id"] for i in no_gps] == [ids[2]]
    old = api.get("/api/images", params={"make": make, "taken_to": "2020-01-01T00:00:00Z"}).json()["items"]
    assert [i["image_id"] for i in old] == [ids[2]] and old[0]["taken_at"] == "2019-01-02T03:04:05"
    assert [i["image_id"] for i in api.get("/api/images", params={"make": make, "model": "b"}).json()["items"]] \
        == [ids[2]]


@pytest.mark.parametrize(("name", "make", "code"), [
    ("polyglot.jpg", lambda: unique_photo() + zip_archive(), "polyglot"),
    ("truncated.jpg", lambda: unique_photo(width=800, height=600)[:20_000], "corrupt"),
    ("bomb.png", lambda: png_claiming(30_000, 30_000), "bomb"),
], ids=["polyglot", "truncated", "bomb"])
def test_hostile_files_are_refused_with_a_reason_and_never_served(api: httpx.Client, name: str, make: Any,
                                                                  code: str) -> None:
    refused = post_image(api, make(), name=name, params={"wait": "true"})
    body = assert_problem(refused, 422)
    assert body["reject_code"] == code and body["image_id"]
    image = api.get(f"/api/images/{body['image_id']}").json()
    assert image["status"] == "rejected" and image["reject_code"] == code and image["original"] is None
    for path in ("original", "thumbnail"):
        assert_problem(api.get(f"/api/images/{body['image_id']}/{path}"), 409)
    assert analysed(api, unique_photo())["status"] == "analysed"  # the pipeline goes on


def test_bad_input_is_a_4xx_problem_and_leaves_nothing_on_disk(api: httpx.Client, stack: Stack) -> None:
    store = stack.data_dir / "files"
    assert_problem(post_image(api, b"%PDF-1.7 not an image", name="x.pdf", content_type="application/pdf"), 415)
    assert_problem(post_image(api, b"\xff\xd8\xff" + bytes(10 * MIB)), 413)
    assert not list(store.rglob(".upload-*"))
    photo = unique_photo()
    assert_problem(post_image(api, photo, subject_type="planet"), 422)
    assert_problem(post_image(api, photo, subject_type="cylinder"), 422)  # no subject_id
    assert_problem(post_image(api, photo, subject_type="cylinder", subject_id="not-a-code"), 422)
    assert_problem(post_image(api, photo, subject_type="camera", subject_id=str(uuid.uuid4())), 422)  # unknown
    assert_problem(post_image(api, photo, subject_id="x"), 422)  # an id without a type
    assert not path_for(store, hashlib.sha256(photo).hexdigest()).exists()
    for params in ({"near": "north"}, {"near": "95,0,1"}, {"cursor": "!!"}, {"status": "lost"}, {"limit": "0"}):
        answer = api.get("/api/images", params=params)
        assert 400 <= answer.status_code < 500 and answer.headers["content-type"].startswith("application/problem")
    assert_problem(api.get(f"/api/images/{uuid.uuid4()}"), 404)
    assert_problem(api.get("/api/images/not-a-uuid"), 422)
    assert_problem(api.get(f"/api/images/{uuid.uuid4()}/thumbnail", params={"size": "64"}), 422)


def test_images_appear_in_the_history_of_their_cylinder(api: httpx.Client) -> None:
    added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1, "location": "Depot 1"})
    assert added.status_code == 200, added.text
    code = added.json()["qr_codes"][0]
    image = analysed(api, unique_photo(), subject_type="cylinder", subject_id=code, caption="dented valve")
    history = api.get(f"/api/cylinders/{code}/history").json()
    entry = next(e for e in history if e["type"] == "ImageUploaded")
    assert entry["data"]["image_id"] == image["image_id"] and entry["data"]["caption"] == "dented valve"
    listed = api.get("/api/images", params={"subject_type": "cylinder", "subject_id": code}).json()["items"]
    assert [i["image_id"] for i in listed] == [image["image_id"]]


def test_workers_see_the_images_of_their_own_readings_only(api: httpx.Client, stack: Stack) -> None:
    from tests.helpers.factories import reading_body

    mine, theirs = client_of(stack, "worker"), client_of(stack, "worker")
    created = mine.post("/api/ingress", params={"wait": "true"}, json=reading_body())
    assert created.status_code == 201, created.text
    reading_id = created.json()["id"]
    photo = unique_photo()
    uploaded = mine.post("/api/images", params={"wait": "true"},
                         files={"file": ("ground-block.jpg", photo, "image/jpeg")},
                        data={"subject_type": "ingress", "subject_id": reading_id})
    assert uploaded.status_code == 201, uploaded.text
    image = uploaded.json()
    assert mine.get(f"/api/images/{image['image_id']}").status_code == 200
    assert_problem(theirs.get(f"/api/images/{image['image_id']}"), 404)
    assert_problem(theirs.get(f"/api/images/{image['image_id']}/thumbnail"), 404)
    listed = theirs.get("/api/images", params={"subject_type": "ingress"}).json()["items"]
    assert image["image_id"] not in [i["image_id"] for i in listed]
    refused = theirs.post("/api/images", files={"file": ("x.jpg", unique_photo(), "image/jpeg")},
                       data={"subject_type": "ingress", "subject_id": reading_id})
    assert_problem(refused, 422)  # not their reading
    history = mine.get(f"/api/ingress/{reading_id}/history").json()
    assert [e["type"] for e in history] == ["IngressReadingSubmitted", "ImageUploaded"]


def test_the_pipeline_status(api: httpx.Client) -> None:
    analysed(api, unique_photo())
    status = api.get("/api/images/status").json()
    assert status["counts"]["analysed"] >= 1 and status["analysed_last_hour"] >= 1
    assert set(status) >= {"pending_oldest_age_s", "analysed_per_s_last_minute", "projection_lag",
                           "degraded_cameras"}


def zip_archive() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "hello")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))
