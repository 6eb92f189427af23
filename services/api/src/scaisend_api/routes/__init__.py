"""Every router the API serves; app.py includes them in this order."""

from fastapi import APIRouter

from scaisend_api.routes import domains, health

ROUTERS: list[APIRouter] = [
    health.router,
    domains.router,
]
