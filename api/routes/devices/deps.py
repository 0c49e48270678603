"""What the device and camera routes share: the consistency wait, the secret box, the SNMP engine for immediate
polls."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from api.deps import consistent_with
from api.problems import Problem
from infra.secrets import SecretBox, SecretsUnavailable
from schemas.topics import CAMERA_CHECKS, DEVICE_RATES, DEVICE_REGISTRY, DEVICE_SAMPLES

TOPICS = (DEVICE_REGISTRY, DEVICE_SAMPLES, DEVICE_RATES, CAMERA_CHECKS)
Consistent = Depends(consistent_with("devices", TOPICS))


def secret_box(request: Request) -> SecretBox:
    box = getattr(request.app.state, "secret_box", None)
    if box is None:
        settings = request.app.state.settings
        try:
            box = SecretBox(settings.secrets_keys.get_secret_value() if settings.secrets_keys else None)
        except SecretsUnavailable as e:
            raise Problem(503, f"Device and camera secrets cannot be kept: {e}.") from e
        request.app.state.secret_box = box
    return box


async def get_secret_box(request: Request) -> SecretBox:
    return secret_box(request)  # a coroutine: FastAPI runs a plain function dependency in a worker thread


async def get_snmp_engine(request: Request) -> SnmpEngine:
    engine = getattr(request.app.state, "snmp_engine", None)
    if engine is None:  # made once, off the loop: loading its MIBs takes ~0.15 s
        made = await asyncio.to_thread(SnmpEngine)
        engine = getattr(request.app.state, "snmp_engine", None) or made  # a concurrent first request's, if any
        request.app.state.snmp_engine = engine
    return engine


Box = Annotated[SecretBox, Depends(get_secret_box)]
Engine = Annotated[SnmpEngine, Depends(get_snmp_engine)]
