"""Demo data: a few hundred realistic ingress readings over several nodes, emitted through the real producer."""

from __future__ import annotations

import random
from datetime import timedelta

from infra.producer import EventProducer
from producers.ingress.commands import submit_reading
from schemas.envelope import Envelope, utc_now
from schemas.ingress.events import IngressReading, InstallPhase, SplitPlan, TestPoint

NODES = ("N-ALDER-01", "N-ALDER-02", "N-BIRCH-07", "N-CEDAR-03", "N-DOGWOOD-11", "N-ELM-05", "N-FIR-09")
STREETS = ("Maple Ave", "Oak St", "Pine Rd", "Harbor Way", "Mill Ln", "Station Rd", "Orchard Ct")
SURNAMES = ("Nguyen", "Okafor", "Schmidt", "Garcia", "Kowalski", "Haddad", "Larsen", "Ito", "Moreau", "Silva")
TECHS = ("t.alvarez", "m.chen", "r.osei", "k.berg")
# (label, start MHz, end MHz, typical level dBmV): CB radio near 27 MHz, shortwave, impulse noise low in the band
SOURCES = (("cb", 26.9, 27.4, -18.0), ("shortwave", 9.4, 9.9, -24.0), ("impulse", 5.0, 12.0, -14.0),
           ("ham-10m", 28.0, 29.7, -22.0), ("clean", 16.0, 40.0, -38.0))


def demo_readings(count: int = 300, seed: int = 7) -> list[Envelope]:
    rng = random.Random(seed)
    now = utc_now()
    events = []
    for i in range(count):
        label, start, end, typical = rng.choice(SOURCES)
        node = NODES[i % len(NODES)]
        phase = rng.choice(list(InstallPhase))
        level = typical + rng.gauss(0, 6) - (8 if phase is InstallPhase.after else 0)
        reading = IngressReading(
            customer_name=f"{rng.choice(SURNAMES)} household", address=f"{rng.randint(1, 480)} {rng.choice(STREETS)}",
            node_id=node, level_dbmv=round(max(-99.0, min(99.0, level)), 1), freq_start_mhz=start, freq_end_mhz=end,
            split_plan=SplitPlan.sub, test_point=rng.choice(list(TestPoint)), home_connected=rng.random() < 0.6,
            install_phase=phase, technician=rng.choice(TECHS), notes=f"demo: {label} suspected",
        )
        event = submit_reading(reading, actor=None, correlation_id=None, source="demo")
        when = now - timedelta(minutes=rng.randint(0, 30 * 24 * 60))
        events.append(event.model_copy(update={"occurred_at": when}))
    return events


async def seed_demo(producer: EventProducer, count: int = 300) -> int:
    events = demo_readings(count)
    await producer.emit_many(events)
    return len(events)
