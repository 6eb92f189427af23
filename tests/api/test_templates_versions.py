"""/v3/templates/{id}/versions: one active version, activation, Handlebars compiled at save time
(a syntax error is a 400 naming field and line), deletion rules."""

from __future__ import annotations

import httpx
from sqlmodel import select

from scaisend_core.db import SessionFactory
from scaisend_core.models import TemplateVersion
from tests.api.templates_helpers import add_version, create
from tests.fixtures.factories import KeyFixture


async def active_flags(client: httpx.AsyncClient, key: KeyFixture, template_id: str) -> list[int]:
    body = (await client.get(f"/v3/templates/{template_id}", headers=key.headers)).json()
    return [v["active"] for v in body["versions"]]


async def test_first_version_becomes_active_and_later_ones_do_not(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)

    first = await add_version(client, api_key, template["id"], name="one")
    second = await add_version(client, api_key, template["id"], name="two")

    assert first["active"] == 1
    assert second["active"] == 0
    assert second["generate_plain_content"] is True
    assert second["editor"] == "code"
    assert await active_flags(client, api_key, template["id"]) == [1, 0]


async def test_creating_with_active_1_deactivates_the_previous_version(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    await add_version(client, api_key, template["id"], name="one")

    await add_version(client, api_key, template["id"], name="two", active=1)

    assert await active_flags(client, api_key, template["id"]) == [0, 1]


async def test_activate_switches_the_active_version(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    await add_version(client, api_key, template["id"], name="one")
    second = await add_version(client, api_key, template["id"], name="two")

    response = await client.post(
        f"/v3/templates/{template['id']}/versions/{second['id']}/activate", headers=api_key.headers
    )

    assert response.status_code == 200
    assert response.json()["active"] == 1
    assert await active_flags(client, api_key, template["id"]) == [0, 1]


async def test_an_unclosed_block_is_a_400_naming_field_and_line_and_nothing_is_saved(
    client: httpx.AsyncClient, api_key: KeyFixture, sessions: SessionFactory
) -> None:
    template = await create(client, api_key)
    html = "<html>\n<body>\n{{#if vip}}\n<p>VIP</p>\n</body>"

    response = await client.post(
        f"/v3/templates/{template['id']}/versions",
        json={"name": "broken", "html_content": html},
        headers=api_key.headers,
    )

    assert response.status_code == 400
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "html_content"]
    assert "line 3" in error["msg"]
    assert "{{#if}}" in error["msg"]
    async with sessions() as session:
        assert (await session.exec(select(TemplateVersion))).all() == []


async def test_a_mismatched_close_in_the_subject_is_a_400(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)

    response = await client.post(
        f"/v3/templates/{template['id']}/versions",
        json={"name": "v", "subject": "{{#each items}}{{/if}}"},
        headers=api_key.headers,
    )

    assert response.status_code == 400
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "subject"]
    assert "line 1" in error["msg"]


async def test_else_if_chains_and_sendgrid_helpers_are_accepted(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    html = (
        "{{#if gold}}Gold{{else if (greaterThan points 100)}}Silver{{else}}Bronze{{/if}}"
        '{{#equals plan "pro"}}P{{/equals}} {{formatDate created "MMMM D, YYYY"}}'
    )

    version = await add_version(client, api_key, template["id"], html_content=html)

    assert version["html_content"] == html


async def test_legacy_templates_are_not_compiled_as_handlebars(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key, "legacy", generation="legacy")

    version = await add_version(client, api_key, template["id"], html_content="<%body%> {{#if")

    assert version["html_content"] == "<%body%> {{#if"


async def test_patch_updates_content_and_validates_it(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    version = await add_version(client, api_key, template["id"])
    path = f"/v3/templates/{template['id']}/versions/{version['id']}"

    ok = await client.patch(path, json={"subject": "Welcome {{name}}"}, headers=api_key.headers)
    bad = await client.patch(path, json={"plain_content": "a\n{{name"}, headers=api_key.headers)

    assert ok.status_code == 200
    assert ok.json()["subject"] == "Welcome {{name}}"
    assert ok.json()["html_content"] == "<p>{{name}}</p>"
    assert bad.status_code == 400
    assert "line 2" in bad.json()["detail"][0]["msg"]


async def test_the_active_version_cannot_be_deleted_or_deactivated(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    active = await add_version(client, api_key, template["id"])
    path = f"/v3/templates/{template['id']}/versions/{active['id']}"

    deleted = await client.delete(path, headers=api_key.headers)
    deactivated = await client.patch(path, json={"active": 0}, headers=api_key.headers)

    assert deleted.status_code == 400
    assert deleted.json() == {"detail": "Cannot delete only active version"}
    assert deactivated.status_code == 400


async def test_an_inactive_version_can_be_deleted(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)
    await add_version(client, api_key, template["id"], name="one")
    spare = await add_version(client, api_key, template["id"], name="two")
    path = f"/v3/templates/{template['id']}/versions/{spare['id']}"

    assert (await client.delete(path, headers=api_key.headers)).status_code == 204
    assert (await client.get(path, headers=api_key.headers)).status_code == 404
    listed = await client.get(f"/v3/templates/{template['id']}/versions", headers=api_key.headers)
    assert [v["name"] for v in listed.json()["versions"]] == ["one"]


async def test_test_data_must_be_json(client: httpx.AsyncClient, api_key: KeyFixture) -> None:
    template = await create(client, api_key)

    bad = await client.post(
        f"/v3/templates/{template['id']}/versions",
        json={"name": "v", "test_data": "{not json"},
        headers=api_key.headers,
    )
    good = await add_version(client, api_key, template["id"], test_data={"name": "Ada"})

    assert bad.status_code == 422
    assert good["test_data"] == '{"name": "Ada"}'


async def test_content_over_one_mebibyte_is_refused(
    client: httpx.AsyncClient, api_key: KeyFixture
) -> None:
    template = await create(client, api_key)

    response = await client.post(
        f"/v3/templates/{template['id']}/versions",
        json={"name": "big", "html_content": "x" * (1_048_576 + 1)},
        headers=api_key.headers,
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "html_content"]
