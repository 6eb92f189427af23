"""Every reply the inbound listener gives, with its RFC 3463 enhanced status code."""

from __future__ import annotations

OK_RECIPIENT = "250 2.1.5 OK"
RELAY_DENIED = "550 5.7.1 Relaying denied: this server only accepts bounces and feedback reports"
NO_SUCH_USER = "550 5.1.1 No such mailbox here"
HOSTS_UNKNOWN = "451 4.3.0 Recipient domains not loaded yet, try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TRY_LATER = "451 4.3.0 Temporary failure storing the message, try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address, try again later"


def queued(storage_key: str) -> str:
    name = storage_key.rsplit("/", 1)[-1].removesuffix(".eml")
    return f"250 2.0.0 OK queued as {name}"
