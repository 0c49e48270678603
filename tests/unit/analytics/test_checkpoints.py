"""The checkpoint bookkeeping, played like the agent plays it (processors/analytics/agents.py: note the record, fold
its series, write the states due and the mark at the end of each batch), then a crash at the end of any batch: the
states read back from the changelog, the partition read again from the mark, must hold every fold an uninterrupted
run holds. A series' state here is the offsets it folded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.checkpoints import Checkpoints, Source

SOURCE: Source = ("devices.rates", 0)
Feed = list[list[bytes]]  # per record (its offset is its index), the series it carries


def fold(states: dict[bytes, tuple[int, ...]], offset: int, series: bytes) -> bool:
    folded = states.get(series, ())
    if folded and folded[-1] >= offset:
        return False  # folded in already (each state knows the last offset it folded)
    states[series] = (*folded, offset)
    return True


def play(feed: Feed, batch: int, every: int, epoch: int, crash_after: int
         ) -> tuple[dict[bytes, tuple[int, ...]], dict[bytes, tuple[int, ...]], int]:
    """Run until the end of batch `crash_after`: (the working states, what the changelog holds, the mark)."""
    book = Checkpoints(every, epoch)
    states: dict[bytes, tuple[int, ...]] = {}
    changelog: dict[bytes, tuple[int, ...]] = {}
    due: set[bytes] = set()
    marks = {0: 0}  # the first batch marks where the partition was first read, like `catch_up` does
    mark = 0
    for start in range(0, min(len(feed), (crash_after + 1) * batch), batch):
        for offset in range(start, min(start + batch, len(feed))):
            noted = book.record(SOURCE, offset)
            if noted is not None:
                due.update(noted[0])
                marks = {0: noted[1]}
            for series in feed[offset]:
                if fold(states, offset, series) and book.folded(SOURCE, series, offset):
                    due.add(series)
        for series in due:
            changelog[series] = states[series]
            book.written(SOURCE, series)
        due.clear()
        mark = marks.get(0, mark)
        marks.clear()
    return states, changelog, mark


feeds = st.lists(st.lists(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), max_size=3, unique=True), min_size=1,
                 max_size=120)


@settings(max_examples=300, deadline=None)
@given(feeds, st.integers(1, 10), st.integers(1, 6), st.integers(1, 12), st.integers(0, 40))
def test_a_restart_from_the_changelog_and_the_mark_loses_no_fold(feed: Feed, batch: int, every: int, epoch: int,
                                                                 crash_after: int) -> None:
    straight, _, _ = play(feed, batch, every, epoch, len(feed))
    _, changelog, mark = play(feed, batch, every, epoch, crash_after)
    recovered = dict(changelog)
    for offset in range(mark, len(feed)):
        for series in feed[offset]:
            fold(recovered, offset, series)
    assert recovered == straight
