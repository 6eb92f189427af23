"""The `scaisend` command. Core owns the app; each installed service wheel adds its commands
through the `scaisend.commands` entry-point group, so an image holds only what it runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from scaisend_core.config import ConfigurationError, DatabaseSettings, load_settings
from scaisend_core.db import create_engine_for_url, create_session_factory, transaction
from scaisend_core.migrate import upgrade, upgrade_sql
from scaisend_core.repositories.api_keys import create_api_key
from scaisend_core.repositories.tenants import create_tenant, get_tenant

ENTRY_POINT_GROUP = "scaisend.commands"
T = TypeVar("T")

app = typer.Typer(
    name="scaisend",
    help="ScaiSend: a self-hosted, SendGrid-v3-compatible transactional email platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # plain tracebacks; rich ones would print settings' secrets
)
tenants_app = typer.Typer(help="Operator bootstrap: tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Operator bootstrap: API keys.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")


def _run_with_db(work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the configured database, run `work(session)` in one transaction, dispose."""
    settings = load_settings(DatabaseSettings)

    async def runner() -> T:
        engine = create_engine_for_url(settings.database_url, echo=settings.db_echo)
        try:
            async with transaction(create_session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


@app.command()
def migrate(
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the SQL instead of running it.")
    ] = False,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the schema (Alembic `upgrade head`); running it twice is a no-op."""
    settings = load_settings(DatabaseSettings)
    if sql:
        typer.echo(upgrade_sql(settings.database_url, revision))
        return

    async def run() -> None:
        engine = create_engine_for_url(settings.database_url)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo(f"database is at revision {revision}")


@tenants_app.command("create")
def tenants_create(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a tenant with its default roles; prints its id (tnt_…) on a line of its own."""

    async def work(session: Any) -> dict[str, str]:
        tenant = await create_tenant(session, name)
        return {"id": tenant.id, "name": tenant.name, "slug": tenant.slug}

    result = _run_with_db(work)
    typer.echo(json.dumps(result) if as_json else result["id"])


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant id (tnt_…) or ScaiKey id.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated permissions, or 'all'.")],
    environment: Annotated[str, typer.Option(help="live or test.")] = "live",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "operator",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Mint an API key; the secret is printed once, on a line of its own, and never stored."""
    from scaisend_core.permissions import PERMISSION_NAMES

    wanted = list(PERMISSION_NAMES) if scopes == "all" else [s.strip() for s in scopes.split(",")]

    async def work(session: Any) -> dict[str, Any]:
        found = await get_tenant(session, tenant)
        if found is None:
            raise typer.BadParameter(f"no tenant {tenant!r}", param_hint="--tenant")
        minted = await create_api_key(
            session, tenant_id=found.id, name=name, scopes=wanted, environment=environment
        )
        return {
            "id": minted.row.id,
            "api_key": minted.secret,
            "prefix": minted.row.prefix,
            "environment": minted.row.environment,
            "scopes": minted.row.scopes,
            "tenant_id": found.id,
        }

    try:
        result = _run_with_db(work)
    except Exception as exc:  # domain errors become a clean CLI error, not a traceback
        from scaisend_core.errors import ScaiSendError

        if isinstance(exc, ScaiSendError):
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        raise
    typer.echo(json.dumps(result) if as_json else result["api_key"])


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Where state lives.")] = Path(".scaisend"),
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
) -> None:
    """Run API, worker and SMTP in one process on embedded defaults (SQLite, a private Redis,
    local files, capture delivery): nothing leaves the machine until SMTP_DELIVERY=mx."""
    from scaisend_core.embedded import run_up

    raise typer.Exit(asyncio.run(run_up(data_dir.resolve(), port)))


def load_plugins(target: typer.Typer) -> list[str]:
    """Let each installed service wheel register its subcommands."""
    loaded = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        register: Callable[[typer.Typer], None] = ep.load()
        register(target)
        loaded.append(ep.name)
    return loaded


def main() -> None:
    load_plugins(app)
    try:
        app()
    except ConfigurationError as exc:
        typer.echo(f"scaisend: {exc}", err=True)
        raise SystemExit(2) from None
