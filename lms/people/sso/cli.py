"""`lms sso ...`: register and switch the identity providers people sign in with."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from lms import clock
from lms.audit.service import record
from lms.extensions import database, settings
from lms.people.outbound import Policy
from lms.people.sso import oidc, service
from lms.people.sso.models import IdentityProvider

sso_group = AppGroup("sso", help="Single sign-on: the OpenID Connect providers people use.")


def _fetch(details: service.ProviderDetails) -> tuple[dict[str, object], dict[str, object]]:
    """The provider's discovery document and keys, asked with no transaction open."""
    try:
        return oidc.fetch_metadata(details.discovery_url, policy=Policy.from_settings(settings()))
    except oidc.ProviderUnavailable as failure:
        raise click.ClickException(f"discovery failed: {failure.cause}") from None


@sso_group.command("add")
@click.argument("name")
@click.option("--discovery-url", required=True, help="…/.well-known/openid-configuration")
@click.option("--client-id", required=True, help="The client (application) ID.")
@click.option(
    "--client-secret-env",
    required=True,
    metavar="VAR",
    help="Environment variable holding the client secret (never on the command line).",
)
@click.option("--domain", "domains", multiple=True, required=True, help="Repeatable.")
@click.option("--display-name", help="Name on the sign-in button (default: NAME).")
@click.option("--create-people", is_flag=True, help="Create people Vern does not know yet.")
@click.option("--department-claim", help="Claim naming a created person's department.")
@click.option("--passwords-off", is_flag=True, help="Refuse passwords for these domains.")
def add(
    name: str,
    discovery_url: str,
    client_id: str,
    client_secret_env: str,
    domains: tuple[str, ...],
    display_name: str | None,
    create_people: bool,
    department_claim: str | None,
    passwords_off: bool,
) -> None:
    """Register provider NAME; prints the redirect URI to enter on its side."""
    secret = os.environ.get(client_secret_env, "")
    if not secret:
        raise click.ClickException(f"{client_secret_env} is not set or empty")
    details = service.ProviderDetails(
        name=name,
        display_name=display_name or name,
        discovery_url=discovery_url,
        client_id=client_id,
        client_secret=secret,
        domains=list(domains),
        passwords_off=passwords_off,
        create_people=create_people,
        department_claim=department_claim,
    )
    with database().transaction() as session:
        try:
            details = service.validate(session, details)
        except service.BadProvider as bad:
            raise click.ClickException(f"{bad.field}: {bad}") from None
    discovery, key_set = _fetch(details)
    with database().transaction() as session:
        try:
            provider = service.register(
                session,
                details,
                discovery=discovery,
                key_set=key_set,
                secret_key=str(current_app.secret_key),
                now=clock.now(),
            )
        except service.BadProvider as bad:
            raise click.ClickException(f"{bad.field}: {bad}") from None
        _audit(session, "sso.provider.register", provider)
        click.echo(f"provider {provider.name} registered: {', '.join(provider.domains)}")
    click.echo(f"redirect URI: {_base()}/sso/callback")
    click.echo(f"sign-out redirect URI: {_base()}/login")


def _base() -> str:
    return settings().base_url


def _audit(session: Session, action: str, provider: IdentityProvider) -> None:
    record(session, action=action, now=clock.now(), via="cli", **service.audit_detail(provider))


@sso_group.command("list")
def list_providers() -> None:
    """Every provider: name, state, domains, options."""
    with database().transaction() as session:
        found = service.providers(session)
        if not found:
            click.echo("no provider registered")
        for provider in found:
            options = [
                "active" if provider.active else "switched off",
                *(["passwords off"] if provider.passwords_off else []),
                *(["creates people"] if provider.create_people else []),
            ]
            click.echo(
                f"{provider.name}\t{provider.display_name}\t{', '.join(provider.domains)}\t"
                f"{'; '.join(options)}\t{provider.discovery_url}"
            )


def _switch(name: str, active: bool) -> None:
    with database().transaction() as session:
        provider = service.provider_by_name(session, name)
        if provider is None:
            raise click.ClickException(f"no provider named {name}")
        service.set_active(session, provider, active)
        _audit(session, "sso.provider.activate" if active else "sso.provider.deactivate", provider)
    click.echo(f"{name} switched {'on' if active else 'off'}")


@sso_group.command("switch-off")
@click.argument("name")
def switch_off(name: str) -> None:
    """Stop offering provider NAME (people of its domains use passwords or links)."""
    _switch(name, False)


@sso_group.command("switch-on")
@click.argument("name")
def switch_on(name: str) -> None:
    """Offer provider NAME again."""
    _switch(name, True)


@sso_group.command("set-secret")
@click.argument("name")
@click.option("--client-secret-env", required=True, metavar="VAR", help="Holds the new secret.")
def set_secret(name: str, client_secret_env: str) -> None:
    """Give provider NAME a new client secret (the old one expired, or LMS_SECRET_KEY changed)."""
    secret = os.environ.get(client_secret_env, "")
    if not secret:
        raise click.ClickException(f"{client_secret_env} is not set or empty")
    with database().transaction() as session:
        provider = service.provider_by_name(session, name)
        if provider is None:
            raise click.ClickException(f"no provider named {name}")
        service.replace_secret(session, provider, secret, secret_key=str(current_app.secret_key))
        _audit(session, "sso.provider.secret", provider)
    click.echo(f"{name}: new client secret stored")


@sso_group.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Forget provider NAME and which of its accounts is which person (people stay)."""
    with database().transaction() as session:
        provider = service.provider_by_name(session, name)
        if provider is None:
            raise click.ClickException(f"no provider named {name}")
        _audit(session, "sso.provider.remove", provider)
        service.remove(session, provider)
    click.echo(f"{name} removed")
