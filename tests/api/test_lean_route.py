"""LeanRoute (the mail send route's class): its endpoint is called without FastAPI's request
machinery, yet the route answers as a FastAPI route would: a 405 for another method, JSON
bodies, the rate-limit headers and metrics of its route template; and an endpoint that would
need FastAPI to solve anything else is refused when the route is declared."""

from __future__ import annotations

from typing import Annotated

import httpx
import orjson
import pytest
from fastapi import APIRouter, Header, Request, Response

from scaisend_api.auth import Principal
from scaisend_api.deps import permission
from scaisend_api.lean_route import LeanRoute
from scaisend_api.observability import REQUESTS
from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from tests.api.helpers import SENDER_DOMAIN, add_verified_domain, mail_body
from tests.fixtures.factories import KeyFixture


async def test_another_method_gets_a_405_naming_post(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    response = await client.get("/v3/mail/send", headers=api_key.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_a_send_answers_json_with_rate_limit_headers_and_is_counted(
    client: httpx.AsyncClient, api_key: KeyFixture, tenant: Tenant, sessions: SessionFactory
) -> None:
    await add_verified_domain(sessions, tenant.id, SENDER_DOMAIN)
    counted = REQUESTS.labels("POST", "/v3/mail/send", "202")
    before = counted._value.get()
    response = await client.post("/v3/mail/send", headers=api_key.headers, json=mail_body())
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content) == {"message_id": response.headers["x-message-id"]}
    assert int(response.headers["x-ratelimit-remaining"]) < int(
        response.headers["x-ratelimit-limit"]
    )
    assert counted._value.get() == before + 1


async def test_an_error_keeps_sendgrids_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v3/mail/send", json=mail_body())
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Missing Authorization header"


def test_an_endpoint_with_more_to_solve_is_refused() -> None:
    router = APIRouter(route_class=LeanRoute)

    async def with_header(
        request: Request,
        principal: Annotated[Principal, permission("mail.send")],
        x_extra: Annotated[str, Header()],
    ) -> Response:
        return Response()

    with pytest.raises(TypeError, match="LeanRoute endpoint takes"):
        router.post("/lean")(with_header)
