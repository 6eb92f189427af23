"""Every router the API serves; app.py includes them in this order."""

from fastapi import APIRouter

from scaisend_api.routes import (
    api_keys,
    batches,
    domains,
    health,
    mail_send,
    messages,
    templates,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    health.router,
    domains.router,
    api_keys.router,
    mail_send.router,
    messages.router,
    batches.router,
    templates.router,
    webhooks.router,
]
