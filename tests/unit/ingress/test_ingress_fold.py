"""Folding a reading's events into its head: duplicates, stale and late events never change it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st

from projections.ingress.projection import Head, next_head
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, Payload
from schemas.ingress.events import IngressReadingCorrected, IngressReadingRetracted, IngressReadingSubmitted
from tests.helpers.factories import reading

READING_ID = uuid.UUID("01920000-0000-7000-8000-0000000000aa")


def event_of(data: Payload) -> Envelope:
    return REGISTRY.event(data, source="tests.unit", subject=str(READING_ID))


def submitted() -> Envelope:
    return event_of(IngressReadingSubmitted(reading_id=READING_ID, reading=reading()))


def corrected(version: int) -> Envelope:
    return event_of(IngressReadingCorrected(reading_id=READING_ID, version=version,
                                            reading=reading(level_dbmv=-30.0 - version)))


def retracted(version: int) -> Envelope:
    return event_of(IngressReadingRetracted(reading_id=READING_ID, version=version, reason="wrong address"))


def fold(events: Iterable[Envelope], head: Head | None = None) -> Head | None:
    """Like the projection: an event that does not apply leaves the head as it was."""
    for event in events:
        head = next_head(head, event) or head
    return head


def test_a_submission_on_an_unknown_reading_starts_it_at_version_1() -> None:
    assert next_head(None, submitted()) == Head(1, False)


def test_a_second_submission_is_a_duplicate() -> None:
    assert next_head(Head(1, False), submitted()) is None
    assert next_head(Head(3, False), submitted()) is None


def test_a_correction_with_the_next_version_applies() -> None:
    assert next_head(Head(1, False), corrected(2)) == Head(2, False)
    assert next_head(Head(2, False), corrected(3)) == Head(3, False)


def test_a_stale_correction_does_not_apply() -> None:
    assert next_head(Head(3, False), corrected(3)) is None
    assert next_head(Head(3, False), corrected(2)) is None


def test_a_correction_from_the_future_does_not_apply() -> None:
    assert next_head(Head(1, False), corrected(3)) is None


def test_a_correction_before_the_submission_does_not_apply() -> None:
    assert next_head(None, corrected(2)) is None
    assert next_head(None, retracted(2)) is None


def test_a_retraction_with_the_next_version_retracts() -> None:
    assert next_head(Head(1, False), retracted(2)) == Head(2, True)
    assert next_head(Head(4, False), retracted(5)) == Head(5, True)


def test_a_stale_or_future_retraction_does_not_apply() -> None:
    assert next_head(Head(2, False), retracted(2)) is None
    assert next_head(Head(2, False), retracted(4)) is None


def test_nothing_applies_after_a_retraction() -> None:
    head = Head(2, True)
    assert next_head(head, submitted()) is None
    assert next_head(head, corrected(3)) is None
    assert next_head(head, retracted(3)) is None


def test_the_log_in_order_folds_to_the_last_version() -> None:
    assert fold([submitted(), corrected(2), corrected(3), retracted(4)]) == Head(4, True)


def test_a_redelivered_log_changes_nothing() -> None:
    log = [submitted(), corrected(2), corrected(3)]
    assert fold(log, fold(log)) == Head(3, False)


POOL = [submitted(), submitted(), *(corrected(v) for v in range(2, 6)), *(retracted(v) for v in range(2, 7))]
sequences = st.one_of(
    st.lists(st.sampled_from(POOL), max_size=30),
    st.permutations(POOL),
)


@given(sequences)
def test_folding_any_sequence_is_deterministic_and_never_goes_back(events: list[Envelope]) -> None:
    assert fold(events) == fold(list(events))

    head: Head | None = None
    for event in events:
        new = next_head(head, event)
        if new is None:
            continue
        if head is None:
            assert new == Head(1, False)
        else:
            assert not head.retracted, "a retracted reading changed"
            assert new.version == head.version + 1
        head = new


@given(sequences)
def test_the_head_is_the_longest_chain_of_versions_seen_in_order(events: list[Envelope]) -> None:
    expected: Head | None = None
    for event in events:
        data = event.data
        if expected is None:
            if isinstance(data, IngressReadingSubmitted):
                expected = Head(1, False)
        elif not expected.retracted and getattr(data, "version", 0) == expected.version + 1:
            expected = Head(expected.version + 1, isinstance(data, IngressReadingRetracted))
    assert fold(events) == expected


@given(st.lists(st.sampled_from(POOL), max_size=30))
def test_replaying_any_sequence_after_the_complete_log_is_a_no_op(replayed: list[Envelope]) -> None:
    complete = fold([submitted(), *(corrected(v) for v in range(2, 6)), retracted(6)])
    assert complete == Head(6, True)
    assert fold(replayed, complete) == complete
