"""Email over SMTP (stdlib smtplib in a worker thread; STARTTLS optional). The Message-ID is derived from the delivery
id, so a copy resent after a crash carries the same Message-ID and mail systems can drop it."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from infra.settings import NotifySettings
from projections.alerts.notify.channel import DeliveryFailed
from projections.alerts.notify.message import Notice, subject_line, text_body


def message_id(delivery_id: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "opsledger.invalid"
    return f"<{delivery_id}@{domain}>"


def build_email(n: Notice, sender: str, recipients: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject_line(n)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id(n.delivery_id, sender)
    mail["X-Opsledger-Delivery"] = n.delivery_id
    mail.set_content(text_body(n))
    return mail


class EmailChannel:
    def __init__(self, settings: NotifySettings, *, name: str = "email") -> None:
        self.name = name  # also the outbox projection's and the rows' channel
        self._host, self._port = settings.smtp_host, settings.smtp_port
        self._user, self._password = settings.smtp_user, settings.smtp_password
        self._sender, self._recipients = settings.smtp_from, settings.recipients
        self._starttls, self._timeout = settings.smtp_starttls, settings.smtp_timeout_s

    async def send(self, notice: Notice) -> None:
        await asyncio.to_thread(self._send, build_email(notice, self._sender, self._recipients))

    def _send(self, mail: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._user and self._password is not None:
                    smtp.login(self._user, self._password.get_secret_value())
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryFailed(f"SMTP refused every recipient: {_codes(e.recipients)}", permanent=True) from e
        except smtplib.SMTPResponseException as e:  # 4xx: try later; 5xx: the server will not take it
            text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            raise DeliveryFailed(f"SMTP {e.smtp_code}: {text[:300]}", permanent=e.smtp_code >= 500) from e
        except (OSError, smtplib.SMTPException) as e:
            raise DeliveryFailed(f"SMTP {type(e).__name__}: {e}"[:400]) from e
        if refused:
            raise DeliveryFailed(f"SMTP refused some recipients: {_codes(refused)}")


def _codes(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} ({code})" for address, (code, _) in sorted(refused.items()))
