"""`lms xapi ...`: connect Learning Record Stores from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from lms import clock
from lms.audit.service import record
from lms.extensions import database, settings
from lms.integrations.xapi import service
from lms.people import crypto

xapi_group = AppGroup("xapi", help="xAPI: the Learning Record Stores Vern sends statements to.")


@xapi_group.command("add-lrs")
@click.argument("name")
@click.argument("url")
@click.option("--username", required=True, help="User name for the LRS's Basic authentication.")
@click.password_option(
    "--password",
    envvar="LMS_LRS_PASSWORD",
    confirmation_prompt=False,
    help="Asked for if not given (or set LMS_LRS_PASSWORD); never echoed.",
)
@click.option("--send-email", is_flag=True, help="Name people by address (LRS may hold them).")
def add_lrs(name: str, url: str, username: str, password: str, send_email: bool) -> None:
    """Connect the store NAME at URL (its xAPI base); it hears what happens from now on."""
    with database().transaction() as session:
        try:
            store = service.register(
                session,
                name=name,
                url=url,
                username=username,
                password=password,
                send_email=send_email,
                now=clock.now(),
                keys=crypto.current_keys(),
                allow_http=not settings().is_production,
            )
        except service.BadLrs as bad:
            raise click.ClickException(str(bad)) from None
        record(
            session,
            action="xapi.lrs.connect",
            now=clock.now(),
            lrs_id=store.id,
            url=store.url,
            send_email=store.send_email,
            via="cli",
        )
        click.echo(f"LRS {store.id} connected: {store.name} ({store.url})")


@xapi_group.command("stores")
def stores() -> None:
    """Every connected store."""
    with database().transaction() as session:
        for store in service.endpoints(session):
            state = "active" if store.active else "switched off"
            named = "email" if store.send_email else "pseudonym"
            click.echo(f"{store.id:>4}  {state:<12} {store.name}  {store.url}  people by {named}")


def _switch(store_id: int, active: bool) -> None:
    with database().transaction() as session:
        if service.set_active(session, store_id, active, clock.now()) is None:
            raise click.ClickException(f"no LRS {store_id}")
        record(
            session,
            action="xapi.lrs.activate" if active else "xapi.lrs.deactivate",
            now=clock.now(),
            lrs_id=store_id,
            via="cli",
        )
    click.echo(f"LRS {store_id} {'receives statements' if active else 'switched off'}")


@xapi_group.command("switch-off")
@click.argument("store_id", type=int)
def switch_off(store_id: int) -> None:
    """Send a store nothing more (what it has stays there)."""
    _switch(store_id, False)


@xapi_group.command("switch-on")
@click.argument("store_id", type=int)
def switch_on(store_id: int) -> None:
    """Send a store statements again, about what happens from now on."""
    _switch(store_id, True)
