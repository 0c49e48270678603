"""Webhook / Slack-style JSON POST, signed like Stripe: `X-Opsledger-Signature: t=<unix>,v1=<hex>` where hex is
HMAC-SHA256(secret, "<t>." + body). `Idempotency-Key` and the body's `delivery_id` are the delivery id, the same on
every retry and on a resend after a crash. Neither the secret nor the URL (a Slack webhook URL is a credential)
is logged or put into an error."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr

from projections.alerts.notify.channel import DeliveryFailed
from projections.alerts.notify.message import Notice, webhook_payload

SIGNATURE_HEADER = "X-Opsledger-Signature"
RETRYABLE_4XX = {408, 409, 425, 429}


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = 300.0) -> bool:
    """What a receiver does: the timestamp is recent (no replays) and one v1 signature matches (constant time)."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance_s:
        return False
    expected = sign(secret, body, int(stamps[0])).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


class WebhookChannel:
    def __init__(self, url: str, secret: SecretStr, *, name: str = "webhook", timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name  # also the outbox projection's and the rows' channel
        self._url, self._secret = url, secret
        self._where = urlsplit(url).netloc
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, notice: Notice) -> None:
        body = orjson.dumps(webhook_payload(notice))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "opsledger-notifier",
            "Idempotency-Key": notice.delivery_id,
            SIGNATURE_HEADER: sign(self._secret.get_secret_value(), body, int(time.time())),
        }
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as e:  # the text of some httpx errors holds the URL: name the host only
            raise DeliveryFailed(f"POST to {self._where} failed: {type(e).__name__}") from e
        if response.is_success:
            return
        status = response.status_code
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise DeliveryFailed(f"POST to {self._where}: HTTP {status} {response.text[:200]!r}", permanent=permanent)
