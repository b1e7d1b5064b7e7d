"""`lms lti ...`: register platforms and read Vern's tool URLs from the command line."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from lms import clock
from lms.audit.service import record
from lms.extensions import database, settings
from lms.integrations.lti import keys, platforms
from lms.people import crypto

lti_group = AppGroup("lti", help="LTI 1.3: the LMS platforms that launch Vern's courses.")


@lti_group.command("add-platform")
@click.argument("name")
@click.option("--issuer", required=True, help="The platform's issuer (iss).")
@click.option("--client-id", required=True, help="The client ID the platform gave Vern.")
@click.option("--deployment", "deployments", multiple=True, required=True, help="Repeatable.")
@click.option("--auth-login-url", required=True, help="The platform's OIDC authorisation URL.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 token URL.")
@click.option("--jwks-url", help="The platform's public keyset URL.")
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="…or a file with its public keys (JWKS JSON).",
)
@click.option("--provision", is_flag=True, help="Create people Vern does not know yet.")
@click.option(
    "--match-email",
    is_flag=True,
    help="Trust it to name people by email: a first launch links to the account with that address.",
)
@click.option("--department-claim", help="Custom parameter naming the person's department.")
def add_platform(
    name: str,
    issuer: str,
    client_id: str,
    deployments: tuple[str, ...],
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str | None,
    jwks_file: Path | None,
    provision: bool,
    department_claim: str | None,
    match_email: bool,
) -> None:
    """Register a platform NAME; prints what to enter on the platform's side."""
    details = platforms.PlatformDetails(
        name=name,
        issuer=issuer,
        client_id=client_id,
        deployment_ids=list(deployments),
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        key_set_url=jwks_url,
        key_set=jwks_file.read_text(encoding="utf-8") if jwks_file else None,
        provisions_users=provision,
        department_claim=department_claim,
        matches_by_email=match_email,
    )
    with database().transaction() as session:
        try:
            platform = platforms.register(
                session,
                details,
                clock.now(),
                keys=crypto.current_keys(),
                allow_http=not settings().is_production,
            )
        except platforms.BadPlatform as bad:
            raise click.ClickException(str(bad)) from None
        record(
            session,
            action="lti.platform.register",
            now=clock.now(),
            platform_id=platform.id,
            issuer=platform.issuer,
            client_id=platform.client_id,
            provisions_users=platform.provisions_users,
            matches_by_email=platform.matches_by_email,
            via="cli",
        )
        click.echo(f"platform {platform.id} registered: {platform.name}")
    _echo_urls()


@lti_group.command("platforms")
def list_platforms() -> None:
    """Every registered platform."""
    with database().transaction() as session:
        for p in platforms.platforms(session):
            state = "active" if p.active else "switched off"
            creates = (
                f"creates people (department: {p.department_claim})" if p.provisions_users else ""
            )
            if p.matches_by_email:
                creates += "  finds people by email"
            click.echo(
                f"{p.id:>4}  {state:<12} {p.name}  iss={p.issuer}  client_id={p.client_id}  "
                f"deployments={','.join(p.deployment_ids)}  {creates}".rstrip()
            )


def _switch(platform_id: int, active: bool) -> None:
    with database().transaction() as session:
        platform = platforms.set_active(session, platform_id, active)
        if platform is None:
            raise click.ClickException(f"no platform {platform_id}")
        record(
            session,
            action="lti.platform.activate" if active else "lti.platform.deactivate",
            now=clock.now(),
            platform_id=platform_id,
            via="cli",
        )
    click.echo(f"platform {platform_id} {'accepts launches' if active else 'switched off'}")


@lti_group.command("switch-off")
@click.argument("platform_id", type=int)
def switch_off(platform_id: int) -> None:
    """Refuse launches from a platform (its history stays)."""
    _switch(platform_id, False)


@lti_group.command("switch-on")
@click.argument("platform_id", type=int)
def switch_on(platform_id: int) -> None:
    """Accept launches from a platform again."""
    _switch(platform_id, True)


@lti_group.command("email-trust")
@click.argument("platform_id", type=int)
@click.argument("trusted", type=click.Choice(["on", "off"]))
def email_trust(platform_id: int, trusted: str) -> None:
    """Whether a platform's first launch may find a person's account by email (on/off)."""
    with database().transaction() as session:
        platform = platforms.set_email_trust(session, platform_id, trusted == "on")
        if platform is None:
            raise click.ClickException(f"no platform {platform_id}")
        record(
            session,
            action="lti.platform.email_trust",
            now=clock.now(),
            platform_id=platform_id,
            trusted=trusted == "on",
            via="cli",
        )
    click.echo(f"platform {platform_id} finds people by email: {trusted}")


@lti_group.command("urls")
def urls() -> None:
    """What to enter on the platform's side (from LMS_BASE_URL)."""
    with database().transaction() as session:
        keys.ensure_key(session, clock.now(), crypto.current_keys())
    _echo_urls()


def _echo_urls() -> None:
    base = settings().base_url
    click.echo(f"login initiation URL: {base}/lti/login")
    click.echo(f"redirect (launch) URL, also for deep linking: {base}/lti/launch")
    click.echo(f"public keyset (JWKS) URL: {base}/lti/jwks.json")
    click.echo(f"target link of a course: {base}/lti/courses/<course key>")
