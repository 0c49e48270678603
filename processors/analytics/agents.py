"""Agents: metric points -> each series' rollups, detector verdicts, anomalies and capacity forecasts.

`analytics` reads the topics that carry points (interface rates, reachability, camera probes, submitted batches) and
folds each input's points into its series' state (processors/analytics/machine.py, pure), keyed by series in the
Faust table `analytics`. A series' points always arrive on one partition (the input's key decides it), so the
table's changelog partition is the input's. The working states are kept decoded in memory (`live`) and encoded into
the table's local store only when a checkpoint is written, a forecast is asked for, or partitions move (the store
is what Faust refills from the changelog then, so `live` is emptied into it first). Checkpoints are written to the
changelog every few inputs of a series (processors/analytics/checkpoints.py), and after a restart the agent first
reads each partition again from its mark, so the states continue exactly where an uninterrupted run would be (and
derived ids repeat, so what was sent twice is harmless). Ingress readings become points per node in the
`ingress-limits` agent (the one agent on `ingress.readings`: processors.analytics.points.reading_points, one event
per run of a node's readings in a batch); `capacity-requests` and `analytics-requests` answer a request for
forecasts now, each worker for the series it holds.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import faust
import structlog
from aiokafka import TopicPartition

from infra import kafka_clients
from infra.settings import Settings
from infra.topics import ANALYTICS_TABLE
from processors.analytics.capacity import MIN_HISTORY_HOURS, forecast_of
from processors.analytics.checkpoints import Checkpoints, Source, is_mark, mark_key
from processors.analytics.derive import capacity_event, derived
from processors.analytics.machine import Capacity, SeriesState, fold, new_state
from processors.analytics.points import by_series, points_of
from processors.codec import DecodeFailure
from schemas.analytics.events import CapacityForecastRequested, MetricPointsSubmitted
from schemas.analytics.params import Params
from schemas.analytics.series import interface_of
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, Payload, derived_event_id
from schemas.registry import EventDecodeError

log = structlog.get_logger(__name__)
SOURCE = "processors.analytics"


@dataclass(frozen=True)
class Cause:
    """What a derived event's envelope takes from its cause, when the cause is not an event at hand."""

    event_id: uuid.UUID
    subject: str
    occurred_at: datetime
    correlation_id: str | None = None


class AnalyticsAgents:
    def __init__(self, app: faust.App, settings: Settings, *, outputs: dict[str, Any], requests: Any) -> None:
        self.app, self.outputs, self.requests = app, outputs, requests
        self.config = settings.analytics
        self.partitions, self.bootstrap = settings.topic_partitions, settings.kafka_bootstrap_servers
        self.table = app.Table(ANALYTICS_TABLE, default=None, partitions=settings.topic_partitions, key_type=bytes,
                               value_type=bytes)  # bytes: the raw codec, both ways
        self.params = Params()
        self.horizon_h = self.config.capacity_horizon_days * 24
        self.checkpoints = Checkpoints(self.config.checkpoint_inputs, self.config.epoch_records)
        self.ready: set[Source] = set()
        self.due: dict[Source, set[bytes]] = {}
        self.marks: dict[Source, int] = {}
        self.live: dict[bytes, SeriesState] = {}  # decoded states with folds not yet written to `states`

    @property
    def states(self) -> Any:
        """The table's local store: the working states (the changelog gets checkpoints only)."""
        return self.table.data

    async def analyse(self, stream: Any) -> None:
        """Agent `analytics`."""
        async for batch in stream.take_events(1000, within=0.05):
            for event in batch:
                message = event.message
                source = (message.topic, message.partition)
                if source not in self.ready:
                    await self.catch_up(source, message.offset)
                await self.fold(source, message.offset, event.value)
            await self.write_checkpoints()

    async def fold(self, source: Source, offset: int, value: Envelope | DecodeFailure) -> None:
        epoch = self.checkpoints.record(source, offset)
        if epoch is not None:
            self.due.setdefault(source, set()).update(epoch[0])
            self.marks[source] = epoch[1]
        if isinstance(value, DecodeFailure):
            return  # dead-lettered by the topic's projection
        grouped = by_series(points_of(value.data))
        if not grouped:
            return
        outcomes = {}
        where = f"{source[0]}:{source[1]}"
        for series, points in grouped.items():
            key = series.encode()
            state = self.live.get(key)
            if state is None:
                raw = self.states.get(key)
                state = SeriesState.decode(raw) if raw else new_state(self.config.grace_s)
            outcome = fold(state, where, offset, points, capacity=series.endswith("/utilisation"),
                           params=self.params, threshold=self.config.capacity_threshold, horizon_h=self.horizon_h)
            if not outcome.folded:
                continue
            self.live[key] = state
            outcomes[series] = outcome
            if self.checkpoints.folded(source, key, offset):
                self.due.setdefault(source, set()).add(key)
        if not outcomes:
            return  # folded in before (a redelivery): what it led to was sent then
        from_client = isinstance(value.data, MetricPointsSubmitted) and value.data.from_client
        submission = value.event_id if from_client else None  # a client may wait for its verdict
        for about, payload in derived(outcomes, threshold=self.config.capacity_threshold, horizon_h=self.horizon_h,
                                      submission=submission):
            await self.send(payload, value, about)

    async def send(self, payload: Payload, cause: Envelope | Cause, about: str) -> None:
        entry = REGISTRY.of(type(payload))
        subject = getattr(payload, "series", cause.subject)
        envelope = REGISTRY.event(payload, event_id=derived_event_id(cause.event_id, f"{entry.name}:{about}"),
                                  occurred_at=getattr(payload, "at", cause.occurred_at), source=SOURCE,
                                  subject=subject, causation_id=cause.event_id, correlation_id=cause.correlation_id)
        await self.outputs[entry.topic].send(key=subject.encode(), value=envelope)

    async def write_checkpoints(self) -> None:
        """Write the states due (and the marks) once what they derived is delivered: a state on the changelog never
        runs ahead of the events it led to."""
        if not any(self.due.values()) and not self.marks:
            return
        await self.app.producer.flush()
        for source, keys in self.due.items():
            for key in keys:
                state = self.live.pop(key, None)  # written: it leaves memory, so `live` holds unwritten folds only
                if state is not None:
                    self.states[key] = state.encode()
                raw = self.states.get(key)
                if raw is not None:
                    self.table.send_changelog(source[1], key, raw)
                self.checkpoints.written(source, key)
        for source, mark in self.marks.items():
            self.states[mark_key(source)] = str(mark).encode()
            self.table.send_changelog(source[1], mark_key(source), str(mark).encode())
        self.due.clear()
        self.marks.clear()

    async def catch_up(self, source: Source, until: int) -> None:
        """Fold what the written states had not seen: the partition from its mark up to where the group resumed."""
        self.ready.add(source)
        raw_mark = self.states.get(mark_key(source))
        if raw_mark is None:  # never marked: nothing of this partition was folded before
            self.marks[source] = until
            return
        start = int(raw_mark)
        if start >= until:
            return
        consumer = kafka_clients.consumer(self.bootstrap, group_id=None, enable_auto_commit=False,
                                          fetch_max_wait_ms=20, auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = TopicPartition(*source)
            consumer.assign([tp])
            consumer.seek(tp, start)
            idle = 0
            while await consumer.position(tp) < until:
                fetched = await consumer.getmany(tp, timeout_ms=200, max_records=2000)
                idle = 0 if fetched.get(tp) else idle + 1
                if idle >= 25:  # ~5 s without a record below `until` (a log restored shorter): never stall the stream
                    log.warning("analytics.catch_up_gap", topic=source[0], partition=source[1],
                                position=await consumer.position(tp), until=until)
                    break
                for message in fetched.get(tp, []):
                    if message.offset >= until:
                        break
                    try:
                        value: Envelope | DecodeFailure = REGISTRY.decode(message.value)
                    except EventDecodeError as e:
                        value = DecodeFailure(message.value or b"", str(e))
                    await self.fold(source, message.offset, value)
                await self.write_checkpoints()
        finally:
            await consumer.stop()
        log.info("analytics.caught_up", topic=source[0], partition=source[1], records=until - start)

    def store_live(self) -> None:
        """Encode the decoded working states into the table's local store, and forget them."""
        for key, state in self.live.items():
            self.states[key] = state.encode()
        self.live.clear()

    def on_revoked(self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """Signal: partitions went elsewhere; when one comes back, it is caught up again. The working states go to
        the store first: Faust's recovery refills the store from the changelog, and a decoded state kept past that
        would shadow what another worker folded meanwhile."""
        self.store_live()
        for tp in args[0] if args else kwargs.get("revoked", ()):
            self.ready.discard((tp.topic, tp.partition))
            self.checkpoints.forget((tp.topic, tp.partition))

    async def fan_out(self, stream: Any) -> None:
        """Agent `capacity-requests`: one copy of each request to every partition of the internal topic."""
        async for event in stream.events():
            value = event.value
            if isinstance(value, DecodeFailure) or not isinstance(value.data, CapacityForecastRequested):
                continue
            body = {"request_id": value.data.request_id, "device_id": value.data.device_id,
                    "cause": str(value.event_id), "at": value.data.at.isoformat()}
            for partition in range(self.partitions):
                await self.requests.send(key=None, value=body, partition=partition)

    async def answer(self, stream: Any) -> None:
        """Agent `analytics-requests`: forecast now every utilisation series of this partition (of the device)."""
        async for event in stream.events():
            body, partition = event.value, event.message.partition
            cause = Cause(uuid.UUID(body["cause"]), body["request_id"], datetime.fromisoformat(body["at"]))
            self.store_live()
            for key, raw in list(self.states.items()):
                series = key.decode()
                interface = interface_of(series) if not is_mark(key) and series.endswith("/utilisation") else None
                if interface is None or (body["device_id"] and interface[0] != body["device_id"]):
                    continue
                state = SeriesState.decode(raw)
                if not state.source.endswith(f":{partition}") or len(state.hours) < MIN_HISTORY_HOURS:
                    continue
                hourly = [(h * 3600.0, m) for h, m in zip(state.hours, state.means, strict=True)]
                due = Capacity(forecast_of(hourly, self.config.capacity_threshold, self.horizon_h), hourly[-1][0],
                               len(hourly), hourly[-1][1])
                made = capacity_event(series, due, self.config.capacity_threshold, self.horizon_h,
                                      body["request_id"])
                if made is not None:
                    await self.send(made, cause, f"{series}@request")
                await asyncio.sleep(0)  # a forecast takes milliseconds: let the other agents run between them


def register(app: faust.App, settings: Settings, *, sources: Any, commands: Any, requests: Any,
             outputs: dict[str, Any]) -> AnalyticsAgents:
    agents = AnalyticsAgents(app, settings, outputs=outputs, requests=requests)
    app.agent(sources, name="analytics")(agents.analyse)
    app.agent(commands, name="capacity-requests")(agents.fan_out)
    app.agent(requests, name="analytics-requests")(agents.answer)
    app.on_partitions_revoked.connect(agents.on_revoked)  # type: ignore[arg-type]  # faust types it narrowly
    return agents
