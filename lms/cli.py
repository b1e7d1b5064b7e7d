"""The `lms` command group: thin wrappers over services."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from lms import clock
from lms.admin import people_import as importer
from lms.catalog.definition import CourseDefinition
from lms.catalog.loader import CourseFileError, load_catalog
from lms.clock import iso_utc
from lms.db import give_way
from lms.evidence import checkpoints, keys, ledger, packs
from lms.extensions import database, settings
from lms.integrations.lti.cli import lti_group
from lms.integrations.secret_keys import secrets_group
from lms.integrations.tokens import Scope, create_token, revoke, tokens
from lms.integrations.webhooks import EVENTS as webhook_events
from lms.integrations.webhooks import BadEndpoint
from lms.integrations.webhooks import overview as webhook_overview
from lms.integrations.webhooks import register as register_webhook
from lms.integrations.webhooks import remove as remove_webhook
from lms.integrations.xapi.cli import xapi_group
from lms.people.crypto import current_keys
from lms.people.models import Role
from lms.people.service import PeopleError
from lms.people.sso.cli import sso_group
from lms.reminders.jobs import JOBS
from lms.training.evidence_lines import RecordsCheck
from lms.training.service import backfill_ledger


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
    upgrade(settings().database_url, revision, secret_keys=current_keys())
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
    from lms.admin.catalogue import apply_sync

    courses = _load_or_exit()
    with database().transaction() as session:
        outcome = apply_sync(
            session, courses, clock.now(), preboarding_days=settings().preboarding_days
        )
    for key in outcome.report.new_courses:
        click.echo(f"new course      {key}")
    for key in outcome.report.new_versions:
        click.echo(f"new version     {key}")
    click.echo(
        f"{len(outcome.report.unchanged)} unchanged, {outcome.assigned} assignments created, "
        f"{outcome.moved} unstarted assignments moved to the current version"
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


lms_group.add_command(lti_group)
lms_group.add_command(xapi_group)
lms_group.add_command(sso_group)
lms_group.add_command(secrets_group)


@lms_group.group("jobs")
def jobs_group() -> None:
    """Run one scheduled job once (for cron, systemd timers and tests)."""


@jobs_group.command("run")
@click.argument(
    "job",
    type=click.Choice(list(JOBS)),
)
def jobs_run(job: str) -> None:
    """Run JOB once and print what it did."""
    from lms.reminders.jobs import run_job
    from lms.scheduler import MORE_JOBS

    _log_to_console()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(run_job(app, job, more=MORE_JOBS))


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


@lms_group.group("webhooks")
def webhooks_group() -> None:
    """Outgoing webhooks: where Vern tells other systems what happened."""


@webhooks_group.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(list(webhook_events)),
    help="Repeat for several; default: all events.",
)
def webhooks_add(url: str, events: tuple[str, ...]) -> None:
    """Register URL; prints the signing secret once."""
    with database().transaction() as session:
        try:
            endpoint, secret = register_webhook(
                session,
                url=url,
                events=list(events or webhook_events),
                now=clock.now(),
                keys=current_keys(),
                allow_http=not settings().outbound_https_only,
            )
        except BadEndpoint as bad:
            raise click.ClickException(str(bad)) from None
        click.echo(f"webhook {endpoint.id} for {', '.join(endpoint.events)}")
        click.echo(f"signing secret (shown once): {secret}")


@webhooks_group.command("list")
def webhooks_list() -> None:
    """Every endpoint with its events and recent delivery results."""
    with database().transaction() as session:
        for endpoint, sent, failing in webhook_overview(session):
            state = "active" if endpoint.active else "removed"
            click.echo(
                f"{endpoint.id:>4}  {state:<8} {endpoint.url}  {', '.join(endpoint.events)}"
                f"  delivered {sent}, failed for good {failing}"
            )


@webhooks_group.command("remove")
@click.argument("endpoint_id", type=int)
def webhooks_remove(endpoint_id: int) -> None:
    """Stop sending to an endpoint (its delivery log stays)."""
    with database().transaction() as session:
        if not remove_webhook(session, endpoint_id):
            raise click.ClickException(f"no active webhook {endpoint_id}")
    click.echo(f"webhook {endpoint_id} removed")


@lms_group.group("people")
def people_group() -> None:
    """People from a CSV file (HR without a provisioning system)."""


def _read_people_file(path: Path) -> importer.ImportPlan:
    """Decode and check the file, with a progress bar: big files take a moment."""
    try:
        text = importer.decode(path.read_bytes())
    except importer.NotUtf8 as error:
        _exit_with_problems(path, [error.problem])
    lines = max(1, text.count("\n"))
    with click.progressbar(length=lines, label="Checking rows", file=sys.stderr) as bar:
        return importer.parse(text, progress=bar.update)


def _exit_with_problems(path: Path, problems: Sequence[importer.Problem]) -> NoReturn:
    for problem in problems:
        column = f" {problem.column}:" if problem.column else ""
        click.echo(f"{path}:{problem.line}:{column} {problem.reason}", err=True)
    count = len(problems)
    click.echo(f"{count} problem{'s' if count != 1 else ''}; nothing was imported", err=True)
    raise SystemExit(1)


def _echo_preview(preview: importer.ImportPreview) -> None:
    for row in preview.changed():
        click.echo(f"{row.action:<11} line {row.line:<6} {row.external_id}  {row.full_name}")
        for change in row.changes:
            click.echo(f"{'':<19}{change.field}: {change.before or '–'} → {change.after or '–'}")
    for key in preview.new_departments:
        click.echo(f"new department  {key}")


def _summary(counts: Mapping[importer.Action, int], verb: str) -> str:
    done = [f"{count} {action}" for action, count in counts.items() if action != "unchanged"]
    return f"{verb}: {', '.join(done)}; {counts[importer.Action.UNCHANGED]} unchanged"


def _apply_in_batches(
    plan: importer.ImportPlan, path: Path, now: datetime
) -> importer.ImportResult:
    """Each batch its own transaction, so other writers (sign-ins) get their turn between
    them; a failed batch leaves the ones before it applied and says where it stopped."""
    session = database().new_session()
    try:
        try:
            run = importer.begin(session, plan)
        except importer.ImportRejected as rejected:  # Vern changed since the preview
            session.rollback()
            _exit_with_problems(path, rejected.problems)
        label = "Importing people"
        with click.progressbar(length=run.steps, label=label, file=sys.stderr) as bar:
            try:
                for _batch in importer.batches(
                    session,
                    run,
                    now,
                    actor_id=None,
                    default_timezone=settings().default_timezone,
                    preboarding_days=settings().preboarding_days,
                    source=path.name,
                ):
                    session.commit()
                    give_way(session)
                    bar.update(run.done - bar.pos)
            except (SQLAlchemyError, PeopleError) as error:
                session.rollback()
                importer.record_stopped(session, run, error, clock.now(), None, source=path.name)
                session.commit()
                click.echo(
                    f"\n{path}: stopped after line {run.line} ({run.done} of {run.steps} "
                    f"batches done): {error}\nWhat came before is saved; import the same "
                    "file again to finish.",
                    err=True,
                )
                raise SystemExit(1) from None
        return run.result
    finally:
        session.close()


@people_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show the changes; write nothing.")
def people_import(path: Path, dry_run: bool) -> None:
    """Create and update people from a CSV file; exit 1 and write nothing on any problem."""
    plan = _read_people_file(path)
    now = clock.now()
    with database().transaction() as session:
        preview = importer.preview(session, plan, now)
        _echo_preview(preview)
    if not preview.ok:
        _exit_with_problems(path, preview.problems)
    if dry_run:
        click.echo(_summary(preview.counts(), "dry run, nothing written; would"))
        return
    # Applying checks the file against Vern again: what is applied is what was checked.
    result = _apply_in_batches(plan, path, now)
    click.echo(_summary(result.counts, "imported"))
    click.echo(f"{result.assignments} assignments created")


@people_group.command("set-password")
@click.argument("email")
@click.password_option(prompt="New password", confirmation_prompt=True)
def people_set_password(email: str, password: str) -> None:
    """Set a person's password (e.g. after an import); their open logins end."""
    from lms.audit.service import record
    from lms.people.service import PeopleError, reset_password, user_by_email

    with database().transaction() as session:
        user = user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"nobody has the email {email}")
        try:
            reset_password(session, user, password, clock.now())
        except PeopleError as error:
            raise click.ClickException(str(error)) from None
        record(session, action="password.set_by_operator", now=clock.now(), subject_user_id=user.id)
    click.echo(f"password set for {email}; their open sessions have ended")


def _change_role(email: str, role: str, *, grant: bool) -> None:
    from lms.admin.people_admin import grant_role, revoke_role
    from lms.people.service import LastActiveAdmin, user_by_email

    with database().transaction() as session:
        user = user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"nobody has the email {email}")
        change = grant_role if grant else revoke_role
        try:
            changed = change(session, user, Role(role), actor_id=None, now=clock.now())
        except LastActiveAdmin:
            raise click.ClickException(
                f"{email} is the only active admin; grant admin to someone else first"
            ) from None
        roles = ", ".join(sorted(str(r) for r in user.roles)) or "none"
    if not changed:
        click.echo(f"{email} {'already has' if grant else 'does not have'} the role {role}")
    else:
        click.echo(f"{email} now has the roles: {roles}")


ROLE_CHOICE = click.Choice([str(role) for role in Role])


@people_group.command("grant-role")
@click.argument("email")
@click.argument("role", type=ROLE_CHOICE)
def people_grant_role(email: str, role: str) -> None:
    """Give a person a role (admin, hr, auditor); audited."""
    _change_role(email, role, grant=True)


@people_group.command("revoke-role")
@click.argument("email")
@click.argument("role", type=ROLE_CHOICE)
def people_revoke_role(email: str, role: str) -> None:
    """Take a role from a person; the last active admin keeps theirs. Audited."""
    _change_role(email, role, grant=False)


@lms_group.group("ledger")
def ledger_group() -> None:
    """The evidence ledger: its signing key, checkpoints and verification."""


@ledger_group.command("init")
@click.option("--if-missing", is_flag=True, help="Do nothing if the key already exists.")
def ledger_init(if_missing: bool) -> None:
    """Create the Ed25519 key that signs checkpoints; enter earlier history into an empty
    ledger; sign the first checkpoint."""
    path = settings().ledger_key
    if path.exists() and if_missing:
        return
    try:
        key = keys.create_key(path)
    except keys.LedgerKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"ledger key written to {path} (keep it secret, and in the backups)")
    with database().transaction() as session:
        if ledger.head(session)[0] == 0:
            entered = backfill_ledger(session)
            if entered:
                click.echo(f"{entered} entries made for what happened before the ledger existed")
        checkpoints.create(session, key, clock.now())
    click.echo("public key (give it to auditors):")
    click.echo(keys.public_pem(key.public_key()), nl=False)


@ledger_group.command("checkpoint")
def ledger_checkpoint() -> None:
    """Sign the ledger's current head now."""
    key = _private_key()
    with database().transaction() as session:
        signed = checkpoints.create(session, key, clock.now())
        click.echo(f"checkpoint signed up to {signed.seq}" if signed else "nothing new to sign")


@ledger_group.command("public-key")
def ledger_public_key() -> None:
    """Print the public key that verifies checkpoints and exports."""
    click.echo(keys.public_pem(_private_key().public_key()), nl=False)


def _private_key() -> Ed25519PrivateKey:
    try:
        return keys.load_private_key(settings().ledger_key)
    except keys.LedgerKeyError as error:
        raise click.ClickException(str(error)) from None


def _public_key_from(path: Path | None) -> Ed25519PublicKey:
    if path is None:
        return _private_key().public_key()
    try:
        return keys.load_public_key(path.read_bytes(), str(path))
    except (OSError, keys.LedgerKeyError) as error:
        raise click.ClickException(str(error)) from None


@ledger_group.command("verify")
@click.option(
    "--public-key",
    "public_key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public key to check signatures with (default: the installation's own key).",
)
def ledger_verify(public_key_path: Path | None) -> None:
    """Recompute the whole chain, check every checkpoint's signature, and every evidence record
    against its entries both ways; exits 1 naming the first bad entry or table, id and field."""
    public_key = _public_key_from(public_key_path)
    with database().transaction() as session:
        total = ledger.head(session)[0]
        records = RecordsCheck(session)  # in the chain's pass: the entries are read once
        try:
            with click.progressbar(length=total, label="Verifying", file=sys.stderr) as bar:
                result = checkpoints.verify(session, public_key, bar.update, records.entry)
            mismatch = records.result() if result.problem is None else None
        finally:
            records.close()
    if result.problem is not None:
        click.echo(f"ledger NOT intact: {result.problem}", err=True)
        sys.exit(1)
    if mismatch is not None:
        click.echo(f"ledger NOT intact: {mismatch}", err=True)
        sys.exit(1)
    click.echo(
        f"ledger intact: {result.entries} entries, {result.checkpoints} checkpoints, "
        "every evidence record matches its entries"
    )


@ledger_group.command("verify-export")
@click.argument("pack", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The installation's public key (PEM), as the auditor received it.",
)
def ledger_verify_export(pack: Path, public_key_path: Path) -> None:
    """Check an exported pack offline: signed manifest, every file, every ledger entry's
    hash and the checkpoint's signature. Exits 1 and lists what does not hold."""
    public_key = _public_key_from(public_key_path)
    with pack.open("rb") as source:
        report = packs.verify_pack(source, public_key)
    if report.problems:
        for problem in report.problems:
            click.echo(f"NOT intact: {problem}", err=True)
        sys.exit(1)
    click.echo(
        f"pack intact: {report.files} files match the signed manifest, "
        f"{report.entries} ledger entries match their hashes and the signed checkpoint"
    )
