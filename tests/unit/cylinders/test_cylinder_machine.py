"""The cylinder state machine by example: the cycle, scans that do not fit, custody, re-test, duplicates, timers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest

from processors.cylinders.machine import Cylinder, Rules, decide, evolve, timers
from producers.cylinders.qrcodes import new_code
from schemas.cylinders.events import (
    CustodyCorrected,
    CylinderAdded,
    CylinderEvent,
    CylinderOverdue,
    CylinderRefilled,
    CylinderReturned,
    CylinderSentToRefill,
    CylinderShipped,
    CylinderStatus,
    RetestDueSoon,
    ScanAction,
    ScanRecorded,
    ScanRejected,
)

RULES = Rules()
MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
FAR_RETEST = date(2035, 1, 1)
NON_ADD_ACTIONS = [action for action in ScanAction if action is not ScanAction.add]


def scan(code: str, action: ScanAction, who: str | None = None, *, at: datetime = MONDAY, worker: str = "ann",
         scan_id: str | None = None, retest_due: date | None = None) -> ScanRecorded:
    return ScanRecorded(client_scan_id=scan_id or uuid.uuid4().hex, qr_code=code, action=action, counterparty=who,
                        scanned_at=at, worker=worker, retest_due=retest_due)


def apply(state: Cylinder, events: Iterable[CylinderEvent]) -> Cylinder:
    for event in events:
        state = evolve(state, event)
    return state


def step(state: Cylinder, one_scan: ScanRecorded, rules: Rules = RULES) -> tuple[Cylinder, list[CylinderEvent]]:
    events = decide(state, one_scan, rules)
    return apply(state, events), events


def cylinder_after(*actions: tuple[ScanAction, str | None], retest_due: date = FAR_RETEST) -> Cylinder:
    """A new cylinder taken through `actions` (each must be accepted), one hour apart, starting with its add."""
    code = new_code()
    state, _ = step(Cylinder(qr_code=code), scan(code, ScanAction.add, at=MONDAY, retest_due=retest_due))
    for hour, (action, who) in enumerate(actions, start=1):
        state, events = step(state, scan(code, action, who, at=MONDAY + timedelta(hours=hour)))
        assert not any(isinstance(event, ScanRejected) for event in events), events
    return state


AT_CUSTOMER = ((ScanAction.ship, "acme"),)
RETURNED = (*AT_CUSTOMER, (ScanAction.return_, None))
IN_REFILL = (*RETURNED, (ScanAction.refill_send, "north-fill"))
TRASHED = ((ScanAction.trash, "dented"),)


def test_the_happy_cycle_goes_through_every_state_with_versions_1_to_5() -> None:
    code = new_code()
    state = Cylinder(qr_code=code)
    cycle = [
        (ScanAction.add, None, CylinderAdded, CylinderStatus.available, None),
        (ScanAction.ship, "acme", CylinderShipped, CylinderStatus.sent, "acme"),
        (ScanAction.return_, "acme", CylinderReturned, CylinderStatus.returned, None),
        (ScanAction.refill_send, "north-fill", CylinderSentToRefill, CylinderStatus.in_refill, None),
        (ScanAction.refill_receive, None, CylinderRefilled, CylinderStatus.available, None),
    ]
    for version, (action, who, event_type, status, holder) in enumerate(cycle, start=1):
        at = MONDAY + timedelta(days=version)
        state, events = step(state, scan(code, action, who, at=at))
        assert [type(event) for event in events] == [event_type]
        assert (events[0].qr_code, events[0].version, events[0].at) == (code, version, at)
        assert (state.status, state.holder, state.version, state.last_scan_at) == (status, holder, version, at)
    assert state.station is None
    assert state.retest_due == date(2035, 3, 4)  # added on 2025-03-04, ten years


def test_the_station_is_remembered_while_in_refill_and_named_on_the_refill() -> None:
    state = cylinder_after(*IN_REFILL)
    assert state.station == "north-fill"
    state, events = step(state, scan(state.qr_code, ScanAction.refill_receive))
    assert isinstance(events[0], CylinderRefilled)
    assert events[0].station == "north-fill"
    assert state.station is None


OUT_OF_STATE = [
    pytest.param(AT_CUSTOMER, ScanAction.ship, "bolt", "only an available cylinder can be shipped (it is sent)",
                 id="ship-when-sent"),
    pytest.param(IN_REFILL, ScanAction.ship, "bolt", "(it is in_refill)", id="ship-when-in-refill"),
    pytest.param((), ScanAction.ship, None, "shipping needs the customer", id="ship-without-customer"),
    pytest.param((), ScanAction.return_, "acme", "only a cylinder at a customer can come back (it is available)",
                 id="return-when-available"),
    pytest.param(RETURNED, ScanAction.return_, "acme", "(it is returned)", id="return-twice"),
    pytest.param((), ScanAction.refill_send, "north-fill", "only a returned (empty) cylinder goes to refill",
                 id="refill-send-when-available"),
    pytest.param(AT_CUSTOMER, ScanAction.refill_send, "north-fill", "(it is sent)", id="refill-send-when-sent"),
    pytest.param(RETURNED, ScanAction.refill_receive, None,
                 "only a cylinder at the refill station comes back full (it is returned)",
                 id="refill-receive-when-returned"),
    pytest.param((), ScanAction.add, None, "this code is already in use", id="add-when-available"),
    pytest.param(TRASHED, ScanAction.add, None, "this code is already in use", id="add-when-trashed"),
    *(pytest.param(TRASHED, action, "acme", "the cylinder was trashed", id=f"{action.value}-when-trashed")
      for action in NON_ADD_ACTIONS),
]


@pytest.mark.parametrize(("history", "action", "who", "reason"), OUT_OF_STATE)
def test_a_scan_that_does_not_fit_is_one_rejection_and_changes_no_status(
        history: tuple[tuple[ScanAction, str | None], ...], action: ScanAction, who: str | None, reason: str) -> None:
    before = cylinder_after(*history)
    late = scan(before.qr_code, action, who, at=MONDAY + timedelta(days=2), worker="bo")

    after, events = step(before, late)

    assert len(events) == 1
    rejected = events[0]
    assert isinstance(rejected, ScanRejected)
    assert reason in rejected.reason
    assert (rejected.action, rejected.status, rejected.version) == (action, before.status, before.version + 1)
    assert (rejected.worker, rejected.scan_id, rejected.at) == ("bo", late.client_scan_id, late.scanned_at)
    assert (after.status, after.holder, after.station) == (before.status, before.holder, before.station)
    assert after.version == before.version + 1


@pytest.mark.parametrize("action", NON_ADD_ACTIONS, ids=lambda action: action.value)
def test_any_action_on_an_unknown_code_is_rejected_and_the_code_stays_unknown(action: ScanAction) -> None:
    unknown = Cylinder(qr_code=new_code())

    after, events = step(unknown, scan(unknown.qr_code, action, "acme"))

    assert len(events) == 1
    assert isinstance(events[0], ScanRejected)
    assert events[0].reason == "no cylinder has this code"
    assert events[0].status is None
    assert after.status is None
    assert after.version == 1


def test_trash_is_accepted_from_every_live_state_and_clears_holder_and_station() -> None:
    for history in ((), AT_CUSTOMER, RETURNED, IN_REFILL):
        before = cylinder_after(*history)
        after, events = step(before, scan(before.qr_code, ScanAction.trash, "valve leak"))
        assert [type(event).__name__ for event in events] == ["CylinderTrashed"]
        assert (after.status, after.holder, after.station) == (CylinderStatus.trashed, None, None)


def test_a_return_by_another_customer_corrects_custody_then_counts_the_return() -> None:
    before = cylinder_after(*AT_CUSTOMER)
    assert (before.holder, before.version) == ("acme", 2)

    after, events = step(before, scan(before.qr_code, ScanAction.return_, "bolt"))

    assert [type(event) for event in events] == [CustodyCorrected, CylinderReturned]
    corrected, returned = events
    assert isinstance(corrected, CustodyCorrected)
    assert isinstance(returned, CylinderReturned)
    assert (corrected.recorded_holder, corrected.actual_holder, corrected.version) == ("acme", "bolt", 3)
    assert (returned.customer, returned.version) == ("bolt", 4)
    assert (after.status, after.holder, after.version) == (CylinderStatus.returned, None, 4)


def test_a_return_without_a_customer_is_credited_to_the_recorded_holder() -> None:
    before = cylinder_after(*AT_CUSTOMER)
    _, events = step(before, scan(before.qr_code, ScanAction.return_, None))
    assert len(events) == 1
    assert isinstance(events[0], CylinderReturned)
    assert events[0].customer == "acme"


def test_a_cylinder_past_its_retest_date_may_not_be_filled() -> None:
    before = cylinder_after(*IN_REFILL, retest_due=date(2025, 3, 3))
    assert before.status is CylinderStatus.in_refill

    after, events = step(before, scan(before.qr_code, ScanAction.refill_receive, at=datetime(2025, 3, 4, tzinfo=UTC)))

    assert len(events) == 1
    assert isinstance(events[0], ScanRejected)
    assert "re-test" in events[0].reason
    assert "2025-03-03" in events[0].reason
    assert after.status is CylinderStatus.in_refill


def test_a_cylinder_on_its_retest_date_may_still_be_filled() -> None:
    before = cylinder_after(*IN_REFILL, retest_due=date(2025, 3, 3))
    after, events = step(before, scan(before.qr_code, ScanAction.refill_receive,
                                      at=datetime(2025, 3, 3, 23, 59, tzinfo=UTC)))
    assert [type(event) for event in events] == [CylinderRefilled]
    assert after.status is CylinderStatus.available


@pytest.mark.parametrize(("scanned_on", "retest_years", "expected"), [
    (date(2025, 3, 3), 10, date(2035, 3, 3)),
    (date(2025, 3, 3), 5, date(2030, 3, 3)),
    (date(2024, 2, 29), 10, date(2034, 2, 28)),
    (date(2024, 2, 29), 5, date(2029, 2, 28)),
    (date(2024, 2, 29), 4, date(2028, 2, 29)),
])
def test_add_without_a_retest_date_is_due_retest_years_after_the_scan(
        scanned_on: date, retest_years: int, expected: date) -> None:
    code = new_code()
    at = datetime(scanned_on.year, scanned_on.month, scanned_on.day, 14, 30, tzinfo=UTC)

    state, events = step(Cylinder(qr_code=code), scan(code, ScanAction.add, at=at),
                         Rules(retest_years=retest_years))

    assert len(events) == 1
    assert isinstance(events[0], CylinderAdded)
    assert events[0].retest_due == expected
    assert state.retest_due == expected


def test_add_takes_the_retest_date_from_the_scan() -> None:
    code = new_code()
    state, events = step(Cylinder(qr_code=code), scan(code, ScanAction.add, retest_due=date(2027, 6, 30)))
    assert isinstance(events[0], CylinderAdded)
    assert events[0].retest_due == date(2027, 6, 30)
    assert state.retest_due == date(2027, 6, 30)


def test_the_same_scan_a_second_time_is_a_no_op() -> None:
    before = cylinder_after()
    ship = scan(before.qr_code, ScanAction.ship, "acme", worker="bo", scan_id="handheld-7/0042")
    shipped, events = step(before, ship)
    assert len(events) == 1

    again, repeat_events = step(shipped, ship)

    assert repeat_events == []
    assert again == shipped


def test_a_repeated_rejected_scan_is_not_rejected_twice() -> None:
    before = cylinder_after(*AT_CUSTOMER)
    ship = scan(before.qr_code, ScanAction.ship, "bolt", scan_id="handheld-7/0043")
    rejected, events = step(before, ship)
    assert [type(event) for event in events] == [ScanRejected]
    assert decide(rejected, ship, RULES) == []


def test_the_same_client_scan_id_from_another_worker_is_another_scan() -> None:
    before = cylinder_after()
    shipped, _ = step(before, scan(before.qr_code, ScanAction.ship, "acme", worker="ann", scan_id="0001"))

    _, events = step(shipped, scan(before.qr_code, ScanAction.return_, "acme", worker="bo", scan_id="0001"))

    assert [type(event) for event in events] == [CylinderReturned]


def test_two_different_scans_are_never_taken_for_one_another() -> None:
    # worker "depot:ann" with scan "7" and worker "depot" with scan "ann:7" are two scans by two people.
    before = cylinder_after()
    shipped, _ = step(before, scan(before.qr_code, ScanAction.ship, "acme", worker="depot:ann", scan_id="7"))

    _, events = step(shipped, scan(before.qr_code, ScanAction.return_, "acme", worker="depot", scan_id="ann:7"))

    assert [type(event) for event in events] == [CylinderReturned]


def test_a_cylinder_idle_at_a_customer_is_flagged_overdue_once_per_stay() -> None:
    at_customer = cylinder_after(*AT_CUSTOMER)
    shipped_at = at_customer.last_scan_at
    assert shipped_at is not None
    rules = Rules(overdue_days=60)

    assert timers(at_customer, shipped_at + timedelta(days=60), rules) == []
    events = timers(at_customer, shipped_at + timedelta(days=61), rules)

    assert len(events) == 1
    overdue = events[0]
    assert isinstance(overdue, CylinderOverdue)
    assert (overdue.customer, overdue.days_without_scan) == ("acme", 61)
    assert (overdue.qr_code, overdue.version) == (at_customer.qr_code, at_customer.version + 1)
    flagged = evolve(at_customer, overdue)
    assert flagged.status is CylinderStatus.sent
    assert flagged.last_scan_at == shipped_at
    assert timers(flagged, shipped_at + timedelta(days=62), rules) == []
    assert timers(flagged, shipped_at + timedelta(days=400), rules) == []

    returned, _ = step(flagged, scan(flagged.qr_code, ScanAction.return_, at=shipped_at + timedelta(days=70)))
    assert timers(returned, shipped_at + timedelta(days=400), rules) == []
    refill_send_at = shipped_at + timedelta(days=71)
    in_refill, _ = step(returned, scan(returned.qr_code, ScanAction.refill_send, "north-fill", at=refill_send_at))
    full, _ = step(in_refill, scan(returned.qr_code, ScanAction.refill_receive, at=refill_send_at))
    shipped_again_at = refill_send_at + timedelta(days=1)
    again, _ = step(full, scan(returned.qr_code, ScanAction.ship, "bolt", at=shipped_again_at))

    assert timers(again, shipped_again_at + timedelta(days=60), rules) == []
    events = timers(again, shipped_again_at + timedelta(days=61), rules)
    assert [(type(event), getattr(event, "customer", None)) for event in events] == [(CylinderOverdue, "bolt")]


def test_only_a_cylinder_at_a_customer_can_be_overdue() -> None:
    long_after = MONDAY + timedelta(days=5000)
    for history in ((), RETURNED, IN_REFILL, TRASHED):
        state = cylinder_after(*history, retest_due=date(2100, 1, 1))
        assert timers(state, long_after, RULES) == []
    assert timers(Cylinder(qr_code=new_code()), long_after, RULES) == []


def test_a_retest_coming_due_is_warned_once_per_due_date() -> None:
    due = date(2026, 1, 31)
    state = cylinder_after(retest_due=due)
    rules = Rules(retest_warn_days=30)
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)

    assert timers(state, noon - timedelta(days=1), rules) == []
    events = timers(state, noon, rules)

    assert len(events) == 1
    warning = events[0]
    assert isinstance(warning, RetestDueSoon)
    assert (warning.retest_due, warning.version, warning.qr_code) == (due, state.version + 1, state.qr_code)
    warned = evolve(state, warning)
    assert warned.status is CylinderStatus.available
    assert timers(warned, noon + timedelta(days=10), rules) == []
    assert timers(warned, noon + timedelta(days=90), rules) == []
    # a new due date (after a re-test) is warned about again
    retested = warned.model_copy(update={"retest_due": date(2036, 1, 31)})
    later = timers(retested, datetime(2036, 1, 10, tzinfo=UTC), rules)
    assert [(type(event), getattr(event, "retest_due", None)) for event in later] == [
        (RetestDueSoon, date(2036, 1, 31))]


def test_no_retest_warning_for_a_trashed_or_unknown_cylinder() -> None:
    trashed = cylinder_after(*TRASHED, retest_due=date(2025, 3, 10))
    assert timers(trashed, MONDAY, RULES) == []
    assert timers(Cylinder(qr_code=new_code()), MONDAY, RULES) == []


def test_both_timers_at_once_take_consecutive_versions() -> None:
    state = cylinder_after(*AT_CUSTOMER, retest_due=date(2025, 6, 1))
    events = timers(state, datetime(2025, 5, 20, tzinfo=UTC), RULES)
    assert [type(event) for event in events] == [CylinderOverdue, RetestDueSoon]
    assert [event.version for event in events] == [state.version + 1, state.version + 2]
    after = apply(state, events)
    assert (after.overdue_flagged, after.retest_warned_for, after.version) == (True, date(2025, 6, 1), 4)
    assert timers(after, datetime(2025, 5, 25, tzinfo=UTC), RULES) == []
