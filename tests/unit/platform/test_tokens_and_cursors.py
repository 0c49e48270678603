"""Consistency tokens and paging cursors: opaque to clients, round-trip exactly, and a bad one is a 400."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from api.consistency import Span, decode_token, encode_token
from api.paging import decode_cursor, encode_cursor
from api.problems import Problem
from infra.producer import Position


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "positions",
    [
        [Position("ingress.readings", 0, 0)],
        [Position("ingress.readings", 3, 1_234_567_890_123)],
        [Position("ingress.readings", 0, 17), Position("ingress.evaluations", 2, 5), Position("files", 1, 99)],
        [Position("a.b.c-d_e", 255, 1)],
        [Position("ingress.readings", p, p * 10) for p in range(100)],
    ],
    ids=["one", "big-offset", "several-topics", "dotted-name", "a-hundred"],
)
def test_a_consistency_token_round_trips(positions: list[Position]) -> None:
    token = encode_token(positions)

    assert decode_token(token) == [Span(p.topic, p.partition, p.offset, p.offset) for p in positions]
    assert "=" not in token and "+" not in token and "/" not in token  # safe in a header and a URL


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!!",
        "a",
        "not a token",
        "ümlaut",
        b64(b"ingress.readings:0"),
        b64(b"ingress.readings:zero:1"),
        b64(b"ingress.readings:0:1,"),
        b64(b"ingress.readings:0:1.5"),
        b64(b"\xff\xfe\x00"),
        b64(b"cylinders.scans:0:9-3"),
        b64(b"cylinders.scans:0:-1"),
    ],
    ids=["empty", "punctuation", "one-char", "spaces", "non-ascii", "no-offset", "word-partition",
         "trailing-comma", "fractional-offset", "not-utf8",
         "backwards-span", "negative"],
)
def test_a_garbage_consistency_token_is_a_400_problem(token: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_token(token)
    assert caught.value.status == 400
    assert "consistency token is not valid" in caught.value.detail


def test_a_batch_token_names_each_partition_once_with_the_span_of_its_offsets() -> None:
    positions = [Position("cylinders.scans", n % 3, 1000 + n) for n in range(1000)]

    token = encode_token(positions)

    assert sorted(decode_token(token), key=lambda s: s.partition) == [
        Span("cylinders.scans", 0, 1000, 1999), Span("cylinders.scans", 1, 1001, 1997),
        Span("cylinders.scans", 2, 1002, 1998)]
    assert len(token) < 200  # a thousand scans still make a short header


def test_a_token_with_more_than_a_hundred_spans_is_a_400_problem() -> None:
    """A command's events land on a few topics times their partitions; a longer token is forged, and each span
    costs a query per try of the wait."""
    token = encode_token([Position("ingress.readings", n, 1) for n in range(101)])
    with pytest.raises(Problem) as caught:
        decode_token(token)
    assert caught.value.status == 400
    assert "1 to 100 positions" in caught.value.detail


@pytest.mark.parametrize(
    ("key", "arity"),
    [
        ((42,), 1),
        (("2024-05-01T10:00:00+00:00", "01920000-0000-7000-8000-000000000001"), 2),
        ((-25.5, "01920000-0000-7000-8000-000000000001"), 2),
        (("ünïcode / slashes + plus", None), 2),
    ],
)
def test_a_cursor_round_trips(key: tuple[object, ...], arity: int) -> None:
    cursor = encode_cursor(*key)

    assert decode_cursor(cursor, arity) == list(key)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor


def test_a_datetime_in_a_cursor_comes_back_as_its_iso_string() -> None:
    at = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    (decoded,) = decode_cursor(encode_cursor(at), 1)
    assert datetime.fromisoformat(decoded) == at


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!!", "a", "ümlaut", b64(b"{not json"), b64(b'{"seq": 1}'), b64(b"42"), b64(b'"text"'), b64(b"null")],
    ids=["empty", "punctuation", "one-char", "non-ascii", "not-json", "object", "number", "string", "null"],
)
def test_a_garbage_cursor_is_a_400_problem(cursor: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor, 1)
    assert caught.value.status == 400
    assert "next_cursor" in caught.value.detail


@pytest.mark.parametrize(("key", "arity"), [((1, 2), 1), ((1,), 2), ((), 1), ((1, 2, 3), 2)])
def test_a_cursor_of_the_wrong_arity_is_a_400_problem(key: tuple[object, ...], arity: int) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(encode_cursor(*key), arity)
    assert caught.value.status == 400



def test_a_token_names_queued_outbox_rows_beside_broker_positions() -> None:
    """Events still queued in the outbox (the broker was away) are one span of outbox seqs, which no Kafka topic can
    be mistaken for; a read waits for the relay to produce them, then for the projection."""
    from api.consistency import OUTBOX

    token = encode_token([Position("ingress.readings", 2, 7)], queued=[41, 40, 44])
    assert decode_token(token) == [Span("ingress.readings", 2, 7, 7), Span(OUTBOX, 0, 40, 44)]
    assert decode_token(encode_token([], queued=[5])) == [Span(OUTBOX, 0, 5, 5)]


def test_a_fresh_token_is_never_refused_for_want_of_asking_the_broker_again() -> None:
    """The log's ends are asked at most every ENDS_REFRESH_S; a token naming a record produced just after the last
    question must wait for the next one, not be refused as forged."""
    import asyncio

    from aiokafka import TopicPartition

    from api.consistency import LogEnds

    end = {"files": 5}
    asked: list[int] = []

    async def fetch(topics: object) -> dict[TopicPartition, int]:
        asked.append(end["files"])
        return {TopicPartition("files", 0): end["files"]}

    async def scenario() -> None:
        ends = LogEnds(["files"], fetch)
        await ends.check([Span("files", 0, 4, 4)])
        end["files"] = 6  # a command's event lands right after the question
        await ends.check([Span("files", 0, 5, 5)])
        with pytest.raises(Problem) as forged:
            await ends.check([Span("files", 0, 10**9, 10**9)])
        assert forged.value.status == 400

    asyncio.run(scenario())
    assert asked == [5, 6, 6]
