"""Thin patches of Faust 0.15.3, each one method, each with the reason it exists (see ARCHITECTURE.md, "Tansu's sharp
edges"). Applied by processors.app.create_app before the app starts."""

from __future__ import annotations

import hashlib
import inspect
import time
from typing import Any

import structlog

from infra.fetch_gate import FetchGate
from infra.kafka import IDLE_FETCHER_WAKE_MS, exact_end_offsets


def use_exact_highwaters(bootstrap: str) -> None:
    """Faust's table recovery reads a changelog up to its ListOffsets end, which Tansu reports too low after
    batched writes (the table would come back stale). Use infra.topics.exact_end_offsets instead (also right on
    Apache Kafka). A patch of one Faust driver method; tests/e2e/test_restart.py fails without it."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._highwaters

    async def _highwaters(self: Any, partitions: list[Any]) -> Any:
        if self.consumer.in_transaction:
            return await original(self, partitions)
        return await exact_end_offsets(bootstrap, partitions)

    driver.AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]


def use_worker_consumer_waits(fetch_max_wait_ms: int | None) -> None:
    """Two waits of the worker consumer Faust builds, set where it is built (one wrapper of one driver method):
    - its fetch routine (aiokafka's consumer_timeout_ms) woke every 200 ms with nothing to send (while a quiet
      consumer's fetch is held, say), each time going over the ~110 partitions it is assigned: a fifth of an idle
      processors process's samples. As the projections' consumers do, it waits up to IDLE_FETCHER_WAKE_MS; a
      finished fetch, a consumed batch, a seek, a resume or a new assignment wake it at once. On any broker.
    - `fetch_max_wait_ms` (Tansu only; None leaves Faust's): Faust hard-codes 1500 ms. Apache Kafka answers a fetch
      as soon as data arrives, but Tansu holds it for the whole wait: at a low input rate every scan waited ~0.5 s in
      the processor. A short wait costs Apache Kafka only idle fetches."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._consumer_timeout = IDLE_FETCHER_WAKE_MS / 1000  # both read by consumer.start() for its fetcher
        if fetch_max_wait_ms is not None:
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
        return consumer

    driver.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]


def pace_fetches(app: Any, busy_ms: int, idle_ms: int, quiet_after_s: float = 2.0) -> None:
    """infra.kafka.FetchPacing for Faust's own consumer: fetches with the short wait while messages come; once none
    came for `quiet_after_s`, each fetch held in the client while the broker is asked for end offsets every
    `idle_ms` (infra.fetch_gate: an idle stack's processors made the broker poll ~110 partitions twice a second).
    Checked once a second from the messages Faust's monitor counted (a request for partitions that just had records
    is never held, so a late flip costs nothing). The gate lives on the fetcher, which runs on the consumer's own
    thread and loop; this only flips its flag."""
    seen = {"received": -1, "at": time.monotonic()}

    @app.timer(interval=1.0)
    async def pace_fetches() -> None:
        received, now = app.monitor.messages_received_total, time.monotonic()
        if received != seen["received"]:
            seen.update(received=received, at=now)
            quiet = False
        elif now - seen["at"] > quiet_after_s:
            quiet = True
        else:
            return
        consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None and idle_ms > busy_ms:
            FetchGate.on(fetcher, idle_ms).holding = quiet


def use_fenced_acks(app: Any) -> None:
    """An event still in an agent when its partition is revoked is acked after the rebalance, into the *new*
    assignment's bookkeeping: Faust (`Consumer.ack`) takes any offset at or above the committed one, and
    `Consumer._new_offset` commits the first consecutive run of acked offsets without asking whether it starts at
    the committed offset. So a batch a `take_events` agent still held at the revocation (offsets 700-800, say) was
    committed as soon as it finished, and the records between the committed offset and it (505-699), which the new
    assignment had not read yet, were skipped: at-least-once broken. (Found reading Faust while chasing the seek
    race of use_seek_before_resume; a restart makes it likely, when the dead member's session expiry rebalances the
    group.) Faust's `stream_wait_empty` would hold every rebalance until the slowest agent finished its buffer;
    this fences the stale acks instead.

    An ack counts only for a message of the current consumer generation, and not while a rebalance is revoking
    the generation it belongs to (from `on_rebalance_start`, the first thing the rebalance listener calls, until
    the app hears of the new assignment). Faust's own streams ack what they skip during a rebalance ("otherwise the
    lag would increase"): when flow control is suspended (a revocation, a stop, before the first recovery ends) they
    skip every event taken from their buffers and ack it unhandled, so no ack counts while flow control is suspended
    either. A fenced message is marked acked (its agent is done with it) but its offset is not recorded: it is read
    again from the committed offset (every resume of flow control is followed by a seek to the committed offsets:
    the end of a recovery, a new assignment)."""
    from faust.transport import consumer as faust_consumer

    fence: dict[str, int | None] = {"revoking": None}
    start, assigned = app.on_rebalance_start, app._on_partitions_assigned

    def on_rebalance_start() -> None:
        fence["revoking"] = app.consumer_generation_id
        start()

    async def on_partitions_assigned(*args: Any, **kwargs: Any) -> Any:
        fence["revoking"] = None  # app.consumer_generation_id is the new assignment's by now
        return await assigned(*args, **kwargs)

    app.on_rebalance_start = on_rebalance_start
    app._on_partitions_assigned = on_partitions_assigned  # read when Faust builds its consumer, after this
    original = faust_consumer.Consumer.ack

    def ack(self: Any, message: Any) -> bool:
        if self.app is app and not message.acked and self.app.topics.acks_enabled_for(message.topic) and (
                stale(message.generation_id, app.consumer_generation_id, fence["revoking"])
                or not app.flow_control.is_active()):
            message.acked = True
            self._unacked_messages.discard(message)
            FENCED["acks"] += 1
            return False
        return original(self, message)

    faust_consumer.Consumer.ack = ack  # type: ignore[method-assign]


def use_seek_before_resume() -> bool:
    """Faust ends a table recovery by resuming the stream partitions and only then seeking them back to their
    committed offsets, while the fetcher already runs: records delivered across that seek were dropped (a stall) or
    taken for a gap, acked and committed unhandled (processors/faust_recovery.py has the whole story). Seek, then
    resume; in both endings (`on_recovery_completed` with tables, `_resume_streams` without).
    Installed only over the exact methods the copies were made from (a source hash): on any other Faust it logs an
    error, leaves Faust alone and returns False."""
    from faust.tables import recovery as faust_recovery

    from processors import faust_recovery as ours

    installed = [install_copy(faust_recovery.Recovery, name, ours, "faust.seek_before_resume")
                 for name in ("on_recovery_completed", "_resume_streams")]  # both, whatever the first says
    return all(installed)


def use_refetch_left_out() -> bool:
    """Faust's fetch loop drops the records of a partition that left its live set of active partitions between the
    fetch and the delivery, after aiokafka moved past them: the processors stalled on that partition, or acked the
    dropped offsets as a gap when more came (processors/faust_fetch.py has the whole story). Fetch them again.
    Installed only over the exact method the copy was made from (a source hash): on any other Faust it logs an error,
    leaves Faust alone and returns False."""
    from faust.transport import consumer as faust_consumer

    from processors import faust_fetch

    return install_copy(faust_consumer.Consumer, "getmany", faust_fetch, "faust.refetch_left_out")


def stale(generation: int | None, current: int, revoking: int | None) -> bool:
    """An event of this consumer generation can no longer be acked: a rebalance replaced its generation, or is
    revoking it now."""
    return generation != current or generation == revoking


#: Acks use_fenced_acks left out: of events whose partition a rebalance took while they were in an agent.
FENCED = {"acks": 0}


def use_eager_drain() -> bool:
    """Faust's drain loop hands every fetched message over through mode's `wait_first(callback(message),
    suspend_flow.wait())`: four tasks created and three cancelled per message (~20-30 µs of CPU), only so that a
    callback blocked when a rebalance or stop sets `suspend_flow` can be abandoned. Run the callback in place and
    fall back to that very `wait_first` only when it really suspends, or while flow is suspended
    (processors/faust_drain.py: the semantics it keeps). Installed only over the exact method the copy was made from
    (a source hash): on any other Faust it logs an error, leaves Faust alone and returns False."""
    from faust.transport import consumer as faust_consumer

    from processors import faust_drain

    return install_copy(faust_consumer.Consumer, "_drain_messages", faust_drain, "faust.eager_drain")


def use_quiet_idle() -> bool:
    """Two Faust loops that turn an idle processors process's event loop hundreds of times a second
    (processors/faust_idle.py): `take_events` wakes every batching agent every `within` seconds while nothing comes
    (the ingress and alert agents 50 times a second), and the livelock check yields through a task per assigned
    partition. The copies wait for a batch's first event with no timer, and yield once per check. Installed only
    over the exact methods the copies were made from (a source hash): on any other Faust it logs an error, leaves
    Faust alone and returns False."""
    from faust import streams as faust_streams
    from faust.transport import consumer as faust_consumer

    from processors import faust_idle

    installed = [install_copy(faust_streams.Stream, "take_events", faust_idle, "faust.quiet_idle"),
                 install_copy(faust_consumer.Consumer, "verify_all_partitions_active", faust_idle, "faust.quiet_idle")]
    return all(installed)


def use_bounded_flush() -> bool:
    """Faust commits offsets only after `Producer.flush()`, whose first step is `ProducerBuffer.flush()`: it waits
    until the buffer of table changelog writes is *empty*. While agents keep writing tables (any busy stream), a
    write lands before each check and the flush only returns once the agents go idle; meanwhile the drain loop waits
    for the commit (every `broker_commit_every` acks) and no record is handed over. Measured in `opsledger bench
    alerts`: commits of 1-7 s, the whole pipeline still for up to 4 s at a time (BENCHMARKS.md). A commit needs only
    the writes made before its offsets were taken, so the flush now waits for the writes buffered when it was
    called (the buffer is first in, first out) and not for later ones. Installed only over the exact method it
    replaces (a source hash), like the copies."""
    from faust.transport.producer import ProducerBuffer

    return install(ProducerBuffer, "flush", bounded_flush, BUFFER_FLUSH_SHA256, "faust.bounded_flush")


#: sha256 of faust-streaming 0.15.3's `ProducerBuffer.flush` (`await self.flush_atmost(None)`).
BUFFER_FLUSH_SHA256 = "26fbebb124ad9c9890f19b4615585cf3eda102b61203e6aa885d3fabfda9b157"


async def bounded_flush(self: Any) -> None:
    """Send what the buffer holds now: at least as many messages as it holds, first in first out (Faust's
    `flush_atmost` also returns when the buffer is empty, or when nothing was sent for 0.1 s, as before)."""
    await self.flush_atmost(self.size)


def use_direct_producer() -> bool:
    """Every `Topic.send` asks for the producer through `App.maybe_start_producer`, which mode's `stampede` wraps:
    three `asyncio.sleep(0)` per call, so each record an agent sends goes three times to the back of the event loop's
    queue. In `opsledger bench alerts` the alert-sources agent spent ~0.8 s of every second inside `Topic.send`
    while its producer call took 0.1 s (BENCHMARKS.md). Once the producer has started, and outside a transaction
    (the processors run at_least_once), the answer is always `app.producer`: hand it over at once; otherwise ask as
    Faust does. Installed only over the exact method it replaces (a source hash)."""
    from faust.topics import Topic

    return install(Topic, "_get_producer", direct_producer, GET_PRODUCER_SHA256, "faust.direct_producer")


#: sha256 of faust-streaming 0.15.3's `Topic._get_producer` (`return await self.app.maybe_start_producer()`).
GET_PRODUCER_SHA256 = "93292ab6a147592fa3221a99517cd4e9cc9fa2e76f39fc5f441c5b5ed4a7d398"


async def direct_producer(self: Any) -> Any:
    app = self.app
    if not app.in_transaction and app.producer.started:
        return app.producer
    return await app.maybe_start_producer()


def fingerprint(method: Any) -> str:
    """sha256 of a method's source: what a copy of it is pinned to."""
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()


#: What install_copy replaced, by (owner, method name): Faust's originals, for tests that compare.
REPLACED: dict[tuple[Any, str], Any] = {}


def install_copy(owner: Any, name: str, copy: Any, event: str) -> bool:
    """Put module `copy`'s annotated copy of `owner.name` in its place, only over the very source it was copied from
    (its sha256 must equal `copy.ORIGINAL_SHA256`, or `copy.ORIGINAL_SHA256[name]` where a module holds several
    copies). Idempotent."""
    pinned = copy.ORIGINAL_SHA256 if isinstance(copy.ORIGINAL_SHA256, str) else copy.ORIGINAL_SHA256[name]
    return install(owner, name, getattr(copy, name), pinned, event)


def install(owner: Any, name: str, replacement: Any, pinned: str, event: str) -> bool:
    """Put `replacement` in place of `owner.name`, only over the very source it was written against (sha256
    `pinned`); on any other Faust log `<event>.refused` and leave Faust alone. Idempotent."""
    if getattr(owner, name) is replacement:
        return True
    if fingerprint(getattr(owner, name)) != pinned:
        structlog.get_logger(__name__).error(
            f"{event}.refused", reason=f"Faust's {owner.__name__}.{name} is not the one the patch was written against; "
            "Faust's own in use (re-write the patch against the new Faust and update its sha256)")
        return False
    REPLACED[(owner, name)] = getattr(owner, name)
    setattr(owner, name, replacement)
    structlog.get_logger(__name__).info(f"{event}.installed", method=f"{owner.__name__}.{name}")
    return True
