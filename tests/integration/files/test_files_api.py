"""Attachments through HTTP: content-addressed upload and download, size and type refusals, hostile names."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.filestore import path_for
from tests.helpers.support import Stack

MIB = 1024 * 1024


def png_bytes(width: int = 2, height: int = 2, note: str = "") -> bytes:
    """A valid RGB PNG (a tEXt chunk makes each one unique)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    text = chunk(b"tEXt", b"Comment\x00" + note.encode()) if note else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + text + chunk(b"IDAT", zlib.compress(pixels))
            + chunk(b"IEND", b""))


def upload(api: httpx.Client, content: bytes, content_type: str, name: str = "photo.png",
           **params: Any) -> httpx.Response:
    return api.post("/api/files", params=params, files={"file": (name, content, content_type)})


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def store_dir(stack: Stack) -> Path:
    return stack.data_dir / "files"  # the stack runs with OPSLEDGER_DATA_DIR=data_dir and no OPSLEDGER_FILES_DIR


def test_an_uploaded_png_comes_back_byte_for_byte(api: httpx.Client) -> None:
    png = png_bytes(note=uuid.uuid4().hex)
    sha = hashlib.sha256(png).hexdigest()

    accepted = upload(api, png, "image/png")
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["subject"] == sha
    assert body["location"] == accepted.headers["Location"] == f"/api/files/{sha}"
    assert body["consistency_token"] == accepted.headers["Opsledger-Consistency"]

    got = api.get(body["location"], headers={"Opsledger-Consistency": body["consistency_token"]})
    assert got.status_code == 200, got.text
    assert got.content == png
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"


def test_wait_true_answers_201_once_the_file_is_readable(api: httpx.Client) -> None:
    png = png_bytes(note=uuid.uuid4().hex)
    created = upload(api, png, "image/png", wait="true")
    assert created.status_code == 201, created.text
    assert api.get(created.json()["location"]).content == png


def test_the_same_file_twice_has_the_same_address(api: httpx.Client) -> None:
    png = png_bytes(3, 1, note=uuid.uuid4().hex)
    first = upload(api, png, "image/png", name="a.png")
    second = upload(api, png, "image/png", name="b.png")
    assert first.status_code == second.status_code == 202
    assert first.json()["subject"] == second.json()["subject"] == hashlib.sha256(png).hexdigest()
    got = api.get(second.json()["location"], params={"after": second.json()["consistency_token"]})
    assert got.content == png


def test_an_unknown_sha_is_404(api: httpx.Client) -> None:
    assert_problem(api.get(f"/api/files/{hashlib.sha256(uuid.uuid4().bytes).hexdigest()}"), 404)


@pytest.mark.parametrize("sha", ["abc", "G" * 64, "A" * 64, "a" * 65])
def test_an_invalid_sha_is_422(api: httpx.Client, sha: str) -> None:
    body = assert_problem(api.get(f"/api/files/{sha}"), 422)
    assert ["path", "sha256"] in [e["loc"] for e in body["errors"]]


def test_a_file_over_the_upload_limit_is_413(api: httpx.Client) -> None:
    too_big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * MIB)
    assert_problem(upload(api, too_big, "image/png"), 413)


def test_a_streamed_file_over_the_upload_limit_is_413(api: httpx.Client) -> None:
    """Without Content-Length (chunked), the limit can only be noticed while reading: still 413."""
    form = httpx.Request("POST", "/api/files", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * MIB),
                                                             "image/png")})
    body = form.read()
    chunks = (body[i:i + 256 * 1024] for i in range(0, len(body), 256 * 1024))
    assert_problem(api.post("/api/files", content=chunks, headers={"content-type": form.headers["content-type"]}),
                   413)


def test_a_file_just_under_the_upload_limit_is_accepted(api: httpx.Client) -> None:
    text = uuid.uuid4().hex.encode() + b"a" * (10 * MIB - 32)
    accepted = upload(api, text, "text/plain", name="big.txt")
    assert accepted.status_code == 202, accepted.text[:500]
    assert accepted.json()["subject"] == hashlib.sha256(text).hexdigest()


def test_a_disallowed_type_is_415(api: httpx.Client) -> None:
    body = assert_problem(upload(api, b"MZ\x90\x00" + b"\x00" * 60, "application/x-msdownload", name="a.exe"), 415)
    assert "image/png" in body["detail"]  # says what is allowed


def test_content_that_is_not_the_declared_type_is_415(api: httpx.Client) -> None:
    assert_problem(upload(api, b"just some text, not a picture", "image/png"), 415)


def test_a_refused_upload_leaves_nothing_in_the_store(api: httpx.Client, stack: Stack) -> None:
    text = f"not a png {uuid.uuid4()}".encode()
    assert_problem(upload(api, text, "image/png"), 415)
    stored = path_for(store_dir(stack), hashlib.sha256(text).hexdigest())
    assert not stored.exists(), f"415-refused bytes were kept at {stored}"


def test_a_hostile_file_name_is_never_used_as_a_path(api: httpx.Client, stack: Stack) -> None:
    content = f"hello {uuid.uuid4()}\n".encode()
    sha = hashlib.sha256(content).hexdigest()
    accepted = upload(api, content, "text/plain", name="../../etc/passwd")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["location"] == f"/api/files/{sha}"
    assert "passwd" not in accepted.headers["Location"]

    got = api.get(f"/api/files/{sha}", params={"after": accepted.json()["consistency_token"]})
    assert got.status_code == 200, got.text
    assert got.content == content
    assert "passwd" not in got.headers.get("content-disposition", "")
    assert path_for(store_dir(stack), sha).read_bytes() == content
    assert not list(stack.data_dir.rglob("passwd"))


def test_a_worker_downloads_only_files_they_uploaded(stack: Stack) -> None:
    """Attachments belong to someone: a worker cannot fetch another worker's photo by its address, not even by
    naming it in a reading of their own; readers of every reading (admin, operator, viewer) can."""
    from tests.helpers.factories import reading_body

    first, second, viewer = stack.user("worker"), stack.user("worker"), stack.user("viewer")
    content = png_bytes(note=f"owned-{uuid.uuid4()}")
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        made = client.post("/api/files", params={"wait": "true"}, headers=first,
                           files={"file": ("mine.png", content, "image/png")})
        assert made.status_code == 201, made.text
        location = made.json()["location"]
        assert client.get(location, headers=first).content == content
        assert_problem(client.get(location, headers=second), 404)
        assert client.get(location, headers=viewer).status_code == 200
        sha = location.rsplit("/", 1)[1]
        reading = client.post("/api/ingress", params={"wait": "true"}, headers=second,
                              json=reading_body(attachments=[sha]))
        assert reading.status_code == 201, reading.text  # projected: the reading now names the file
        assert_problem(client.get(location, headers=second), 404)
        again = client.post("/api/files", params={"wait": "true"}, headers=second,
                            files={"file": ("same.png", content, "image/png")})
        assert again.status_code == 201, again.text  # who holds the bytes may upload them, and then read them
        assert client.get(location, headers=second).content == content
