"""Uploaded files: the content must match its declared type, and the store is content-addressed on disk."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from infra.filestore import TooLarge, WrongContent, content_matches, path_for, store

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(100)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(100)


@pytest.mark.parametrize(
    ("content_type", "head"),
    [("image/jpeg", JPEG), ("image/png", PNG), ("application/pdf", PDF), ("image/webp", WEBP)],
)
def test_a_file_with_the_right_signature_matches(content_type: str, head: bytes) -> None:
    assert content_matches(content_type, head)


@pytest.mark.parametrize(
    ("content_type", "head"),
    [
        ("image/jpeg", PNG),
        ("image/png", JPEG),
        ("application/pdf", b"PDF-1.7 without the percent"),
        ("image/webp", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100)),
        ("image/webp", b"RIFF"),
        ("image/png", b""),
        ("application/x-msdownload", b"MZ\x90\x00"),
    ],
    ids=["png-as-jpeg", "jpeg-as-png", "not-pdf", "wav-as-webp", "short-riff", "empty", "unknown-type"],
)
def test_a_file_with_another_signature_does_not_match(content_type: str, head: bytes) -> None:
    assert not content_matches(content_type, head)


@pytest.mark.parametrize(
    "head",
    [
        b"timestamp,level_dbmv\n2024-05-01T10:00:00Z,-25.0\n",
        "Messung am Hausübergabepunkt: −25 dBmV ✓\n".encode(),
        b"",
    ],
    ids=["ascii-csv", "utf8", "empty"],
)
def test_utf8_text_matches(head: bytes) -> None:
    assert content_matches("text/plain", head)
    assert content_matches("text/csv", head)


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_text_whose_sample_ends_inside_a_multibyte_character_matches(cut: int) -> None:
    text = ("x" * 508 + "𝄞").encode()  # a 4-byte character at the end of a 512-byte sample
    assert content_matches("text/plain", text[: 508 + cut])


def test_text_with_a_nul_byte_is_refused() -> None:
    assert not content_matches("text/plain", b"looks like text\x00but is binary")


def test_binary_that_is_not_utf8_is_refused_as_text() -> None:
    assert not content_matches("text/plain", JPEG)
    assert not content_matches("text/csv", b"\xff\xfeu\x00t\x00f\x00-\x001\x006\x00" + bytes(20))


def test_text_with_a_nul_byte_is_refused_even_when_the_sample_ends_mid_character() -> None:
    assert not content_matches("text/plain", b"looks like text\x00but is binary \xe2\x82")


@pytest.mark.parametrize("head", [b"plain text then \xff", b"plain text then \xc3(", b"\xff"],
                         ids=["invalid-byte-at-end", "broken-sequence-near-end", "one-invalid-byte"])
def test_invalid_utf8_near_the_end_is_refused(head: bytes) -> None:
    # only a character cut off by the end of the sample is excused; these bytes are never valid UTF-8
    assert not content_matches("text/plain", head)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_store_writes_the_content_under_its_sha256(tmp_path: Path) -> None:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 10
    sha = hashlib.sha256(content).hexdigest()

    stored_sha, size = store(tmp_path, io.BytesIO(content), max_bytes=1_000_000, content_type="application/pdf")

    assert (stored_sha, size) == (sha, len(content))
    expected_path = tmp_path / sha[:2] / sha[2:4] / sha
    assert path_for(tmp_path, sha) == expected_path
    assert expected_path.read_bytes() == content
    assert files_under(tmp_path) == [expected_path]


def test_store_creates_the_root_when_missing(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    sha, _ = store(root, io.BytesIO(b"hello"), max_bytes=10, content_type="text/plain")
    assert path_for(root, sha).read_bytes() == b"hello"


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    content = b"the same photo twice" * 100

    first = store(tmp_path, io.BytesIO(content), max_bytes=1_000_000, content_type="text/plain")
    second = store(tmp_path, io.BytesIO(content), max_bytes=1_000_000, content_type="text/plain")

    assert first == second
    assert files_under(tmp_path) == [path_for(tmp_path, first[0])]


def test_content_of_exactly_max_bytes_is_accepted(tmp_path: Path) -> None:
    sha, size = store(tmp_path, io.BytesIO(b"x" * 64), max_bytes=64, content_type="text/plain")
    assert size == 64
    assert path_for(tmp_path, sha).exists()


@pytest.mark.parametrize(("size", "max_bytes"), [(65, 64), (3 * 1024 * 1024, 2 * 1024 * 1024 + 1)],
                         ids=["one-byte-over", "over-after-several-chunks"])
def test_content_past_max_bytes_is_refused_and_leaves_nothing_behind(tmp_path: Path, size: int,
                                                                      max_bytes: int) -> None:
    with pytest.raises(TooLarge):
        store(tmp_path, io.BytesIO(b"y" * size), max_bytes=max_bytes, content_type="text/plain")
    assert files_under(tmp_path) == []


def test_a_refused_upload_leaves_earlier_files_alone(tmp_path: Path) -> None:
    kept, _ = store(tmp_path, io.BytesIO(b"keep me"), max_bytes=10, content_type="text/plain")
    with pytest.raises(TooLarge):
        store(tmp_path, io.BytesIO(b"far too large"), max_bytes=10, content_type="text/plain")
    assert files_under(tmp_path) == [path_for(tmp_path, kept)]


def test_content_not_of_the_declared_type_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(WrongContent):
        store(tmp_path, io.BytesIO(b"plain words, not a PNG"), max_bytes=1000, content_type="image/png")
    assert files_under(tmp_path) == []
