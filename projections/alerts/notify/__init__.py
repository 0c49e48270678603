"""Alert notifications through an outbox: one projection per channel records what to send (processors.notify.outbox),
one sender loop per channel delivers it (processors.notify.sender). See processors.notify.runner."""
