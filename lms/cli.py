"""The `lms` command group: thin wrappers over services."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import AppGroup

from lms import clock
from lms.catalog.definition import CourseDefinition
from lms.catalog.loader import CourseFileError, load_catalog
from lms.catalog.service import sync_catalog
from lms.clock import iso_utc
from lms.extensions import database, settings
from lms.integrations.tokens import Scope, create_token, revoke, tokens
from lms.training.cycles import assign_courses, move_unstarted_to_current_versions


@click.group("lms", cls=AppGroup)
def lms_group() -> None:
    """Vern administration commands."""


@lms_group.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from lms.migrate import upgrade

    settings().instance_path.mkdir(parents=True, exist_ok=True)
    upgrade(settings().database_url, revision)
    click.echo(f"database at revision {revision}")


@lms_group.group("courses")
def courses_group() -> None:
    """Course files under courses/."""


def _load_or_exit() -> list[CourseDefinition]:
    try:
        return load_catalog(settings().courses_path)
    except CourseFileError as error:
        for problem in error.problems:
            click.echo(f"error: {problem}", err=True)
        count = len(error.problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''}; nothing was loaded", err=True)
        raise SystemExit(1) from None


@courses_group.command("check")
def courses_check() -> None:
    """Validate every course; print file:line: problem and exit 1 on any error."""
    courses = _load_or_exit()
    for course in courses:
        click.echo(
            f"ok  {course.key:<28} {course.sha256[:12]}  {len(course.modules)} modules, "
            f"{len(course.questions)} questions, {', '.join(course.languages)}"
        )
    click.echo(f"{len(courses)} courses valid")


@courses_group.command("sync")
def courses_sync() -> None:
    """Store new course versions and assign courses to everyone they are meant for."""
    courses = _load_or_exit()
    now = clock.now()
    with database().transaction() as session:
        report = sync_catalog(session, courses, now)
        moved = move_unstarted_to_current_versions(session)
        assigned = assign_courses(session, now, preboarding_days=settings().preboarding_days)
    for key in report.new_courses:
        click.echo(f"new course      {key}")
    for key in report.new_versions:
        click.echo(f"new version     {key}")
    click.echo(
        f"{len(report.unchanged)} unchanged, {assigned} assignments created, "
        f"{moved} unstarted assignments moved to the current version"
    )


@lms_group.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if anyone exists already.")
def demo(if_empty: bool) -> None:
    """Create a demo organisation and print its logins (refused in production)."""
    from lms.admin.demo import DEMO_PASSWORD, DemoRefused, create_demo

    if settings().is_production:
        raise click.ClickException("the demo organisation is never created in production")
    try:
        with database().transaction() as session:
            people = create_demo(session, clock.now(), skip_if_people=if_empty)
    except DemoRefused as refused:
        click.echo(str(refused))
        return
    click.echo(f"Demo organisation created. Every demo login uses the password: {DEMO_PASSWORD}")
    for email, description in people:
        click.echo(f"  {email:<32} {description}")
    current_app.logger.info("demo organisation created")


def _log_to_console() -> None:
    # Long-running and cron commands report through logging (incl. the console mail sink).
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@lms_group.command("scheduler")
def scheduler() -> None:
    """Run the scheduler (sweep, send, digest) in this process until stopped."""
    from lms.scheduler import run_scheduler

    _log_to_console()
    run_scheduler(current_app._get_current_object())  # type: ignore[attr-defined]


@lms_group.group("jobs")
def jobs_group() -> None:
    """Run one scheduled job once (for cron, systemd timers and tests)."""


@jobs_group.command("run")
@click.argument("job", type=click.Choice(["sweep", "send", "digest", "tallies"]))
def jobs_run(job: str) -> None:
    """Run JOB once and print what it did."""
    from lms.reminders.jobs import run_job

    _log_to_console()
    click.echo(run_job(current_app._get_current_object(), job))  # type: ignore[attr-defined]


@lms_group.group("tokens")
def tokens_group() -> None:
    """API tokens for HR systems and identity providers."""


@tokens_group.command("create")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), required=True)
@click.argument("name")
def tokens_create(scope: str, name: str) -> None:
    """Create a token; it is printed this once and stored only as a hash."""
    with database().transaction() as session:
        token, raw = create_token(session, name=name, scope=Scope(scope), now=clock.now())
        token_id = token.id
    click.echo(f"token {token_id} ({scope}) for {name!r} — copy it now, it is not shown again:")
    click.echo(raw)


@tokens_group.command("list")
def tokens_list() -> None:
    """Every token with its scope, last use and whether it is revoked."""
    with database().transaction() as session:
        for token in tokens(session):
            used = iso_utc(token.last_used_at) if token.last_used_at else "never"
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            click.echo(
                f"{token.id:>4}  {token.scope:<9} {token.prefix}…  {state:<18} "
                f"last used {used}  {token.name}"
            )


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    with database().transaction() as session:
        if not revoke(session, token_id, clock.now()):
            raise click.ClickException(f"no active token {token_id}")
    click.echo(f"token {token_id} revoked")
