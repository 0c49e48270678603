"""When a series' state is written to the table's changelog, and from where a restart must read its source again.

Writing a series' state (5-10 KB) to the changelog at every point would be megabytes a second at a few thousand
points/s; instead each state is written every `every` inputs, and when it has been idle for an epoch. Per source
partition a mark says "every record before this offset is in the written states"; after a restart the agent reads
the partition again from its mark up to where the consumer group resumes and folds what the states had not seen
(each state knows the last offset it folded, so nothing is folded twice). Pure bookkeeping: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Source = tuple[str, int]  # (topic, partition)


def mark_key(source: Source) -> bytes:
    return f"\x00mark\x00{source[0]}\x00{source[1]}".encode()


def is_mark(key: bytes) -> bool:
    return key.startswith(b"\x00mark\x00")


@dataclass
class Partition:
    first_unwritten: dict[bytes, int] = field(default_factory=dict)  # series -> offset of its first unwritten fold
    last_fold: dict[bytes, int] = field(default_factory=dict)  # series -> offset of its latest unwritten fold
    inputs: dict[bytes, int] = field(default_factory=dict)  # series -> inputs folded since it was written
    records: int = 0  # records since the last mark


@dataclass
class Checkpoints:
    every: int  # inputs of a series between writes
    epoch: int  # records of a partition between marks
    partitions: dict[Source, Partition] = field(default_factory=dict)

    def folded(self, source: Source, series: bytes, offset: int) -> bool:
        """Note a fold; True when the series is due to be written."""
        part = self.partitions.setdefault(source, Partition())
        part.first_unwritten.setdefault(series, offset)
        part.last_fold[series] = offset
        part.inputs[series] = part.inputs.get(series, 0) + 1
        return part.inputs[series] >= self.every

    def written(self, source: Source, series: bytes) -> None:
        part = self.partitions.get(source)
        if part is not None:
            part.first_unwritten.pop(series, None)
            part.last_fold.pop(series, None)
            part.inputs.pop(series, None)

    def record(self, source: Source, offset: int) -> tuple[list[bytes], int] | None:
        """Note a record of the partition (before its series are folded); at the end of an epoch: (the idle series
        to write now, the mark to write once they are), else None."""
        part = self.partitions.setdefault(source, Partition())
        part.records += 1
        if part.records < self.epoch:
            return None
        part.records = 0
        idle = [s for s, last in part.last_fold.items() if last <= offset - self.epoch]
        quiet = set(idle)
        busy = [o for s, o in part.first_unwritten.items() if s not in quiet]
        # `offset` itself is noted before its series are folded, so it is not in any written state yet: the mark is
        # at most `offset` (read again after a restart, it is skipped by the states that had folded it)
        return idle, min(busy, default=offset)

    def forget(self, source: Source) -> None:
        """The partition went to another worker: its bookkeeping starts again when it comes back."""
        self.partitions.pop(source, None)
