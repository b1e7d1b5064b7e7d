"""Typed, frozen settings read once from LMS_* environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """Raised when the environment describes a configuration that must not start."""


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _optional_int(env: dict[str, str], name: str) -> int | None:
    return _int(env, name, 0) if env.get(name) else None


def _secure_cookies(env: dict[str, str]) -> bool:
    """Production always sends cookies over HTTPS only; a plain-HTTP test rig must say so
    explicitly (LMS_INSECURE_COOKIES=1) rather than forget LMS_SECURE_COOKIES."""
    if env.get("LMS_ENV") == "production":
        return not _flag(env.get("LMS_INSECURE_COOKIES"))
    return _flag(env.get("LMS_SECURE_COOKIES"))


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its environment; never mutated after start-up."""

    env: str = "development"
    secret_key: str = ""
    database_url: str = ""
    instance_path: Path = PROJECT_ROOT / "instance"
    courses_path: Path = PROJECT_ROOT / "courses"
    base_url: str = "http://127.0.0.1:5000"
    secure_cookies: bool = False
    session_hours: int = 12  # absolute lifetime of a login
    # ASVS 3.3.2 (level 2) asks for an idle timeout of at most 30 minutes.
    session_idle_minutes: int = 30  # a login unused this long ends
    default_locale: str = "en"
    default_timezone: str = "Europe/Oslo"
    languages: tuple[str, ...] = ("en", "nb")
    testing: bool = False
    # None: assign a new hire's courses as soon as they exist in Vern (pre-boarding);
    # N: not earlier than N days before their start date (0 = on the start date).
    preboarding_days: int | None = None
    # None: invite a new person to Vern (welcome mail) as soon as they exist; N: N days before
    # their start date in their time zone (people without a start date: at once).
    invite_days_before_start: int | None = None
    # Mail: with no SMTP host, mail goes to the console log (the embedded default).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    mail_from: str = "vern@localhost"
    mail_from_name: str = "Vern"
    # Scheduler: how often each job runs (the digest runs weekly, Monday morning).
    sweep_minutes: int = 15
    send_seconds: int = 60
    digest_weekday: str = "mon"
    digest_hour: int = 7
    # Sign-in throttling: failures allowed per account and per client address in the window.
    login_account_failures: int = 5
    login_address_failures: int = 50
    login_window_minutes: int = 15
    # Evidence: the Ed25519 key that signs ledger checkpoints (None: instance/ledger-ed25519.pem),
    # how often the scheduler signs one, and how long a leaver's records keep their personal
    # data (six years by default: the Norwegian limitation period for claims is three to ten).
    ledger_key_path: Path | None = None
    # Reverse proxies in front of Vern whose X-Forwarded-For/-Proto/-Host to believe (0: none,
    # so a client cannot fake its address for the login throttle or the audit trail).
    trusted_proxies: int = 0
    # Outbound requests (webhooks, LRS, LTI platforms, identity providers) reach public
    # addresses only; these hosts or networks ("hr.internal", "10.1.2.3", "10.8.0.0/16") are
    # allowed inside for on-premises systems (see lms.people.outbound).
    outbound_allow: tuple[str, ...] = ()
    # A PEM file of the certificate authorities to trust for outbound https (a company CA for
    # on-premises systems); None: the public ones (certifi).
    outbound_ca_bundle: Path | None = None
    # Earlier values of the secret key: stored secrets (client secrets, LRS passwords, webhook
    # secrets, the LTI key) encrypted under one still open until `lms secrets rotate`.
    old_secret_keys: tuple[str, ...] = ()
    # Testing only: a file holding the current time (shared by processes in a simulation) and
    # a scheduler that runs its interval jobs every this many seconds.
    clock_file: Path | None = None
    tick_seconds: int | None = None
    checkpoint_minutes: int = 60
    retention_days: int = 6 * 365 + 2

    @property
    def ledger_key(self) -> Path:
        return self.ledger_key_path or self.instance_path / "ledger-ed25519.pem"

    @property
    def mail_domain(self) -> str:
        return self.mail_from.rpartition("@")[2] or "localhost"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def outbound_https_only(self) -> bool:
        """Production sends requests over https only; development and tests may use http."""
        return self.is_production

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from LMS_* variables, with embedded defaults for a bare machine."""
        env = dict(os.environ if environ is None else environ)
        instance_path = Path(env.get("LMS_INSTANCE_PATH") or PROJECT_ROOT / "instance")
        settings = cls(
            env=env.get("LMS_ENV", "development"),
            secret_key=env.get("LMS_SECRET_KEY", ""),
            database_url=env.get("LMS_DATABASE_URL")
            or f"sqlite:///{instance_path / 'vern.sqlite3'}",
            instance_path=instance_path,
            courses_path=Path(env.get("LMS_COURSES_PATH") or PROJECT_ROOT / "courses"),
            base_url=env.get("LMS_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            secure_cookies=_secure_cookies(env),
            session_hours=_int(env, "LMS_SESSION_HOURS", 12),
            session_idle_minutes=_int(env, "LMS_SESSION_IDLE_MINUTES", 30),
            default_locale=env.get("LMS_DEFAULT_LOCALE", "en"),
            default_timezone=env.get("LMS_DEFAULT_TIMEZONE", "Europe/Oslo"),
            preboarding_days=_optional_int(env, "LMS_PREBOARDING_DAYS"),
            invite_days_before_start=_optional_int(env, "LMS_INVITE_DAYS_BEFORE_START"),
            smtp_host=env.get("LMS_SMTP_HOST", ""),
            smtp_port=_int(env, "LMS_SMTP_PORT", 25),
            smtp_username=env.get("LMS_SMTP_USERNAME", ""),
            smtp_password=env.get("LMS_SMTP_PASSWORD", ""),
            smtp_starttls=_flag(env.get("LMS_SMTP_STARTTLS")),
            smtp_ssl=_flag(env.get("LMS_SMTP_SSL")),
            mail_from=env.get("LMS_MAIL_FROM", "vern@localhost"),
            mail_from_name=env.get("LMS_MAIL_FROM_NAME", "Vern"),
            sweep_minutes=_int(env, "LMS_SWEEP_MINUTES", 15),
            send_seconds=_int(env, "LMS_SEND_SECONDS", 60),
            digest_weekday=env.get("LMS_DIGEST_WEEKDAY", "mon"),
            digest_hour=_int(env, "LMS_DIGEST_HOUR", 7),
            login_account_failures=_int(env, "LMS_LOGIN_ACCOUNT_FAILURES", 5),
            login_address_failures=_int(env, "LMS_LOGIN_ADDRESS_FAILURES", 50),
            login_window_minutes=_int(env, "LMS_LOGIN_WINDOW_MINUTES", 15),
            ledger_key_path=Path(env["LMS_LEDGER_KEY_PATH"])
            if env.get("LMS_LEDGER_KEY_PATH")
            else None,
            checkpoint_minutes=_int(env, "LMS_CHECKPOINT_MINUTES", 60),
            trusted_proxies=_int(env, "LMS_TRUSTED_PROXIES", 0),
            outbound_allow=_list(env.get("LMS_OUTBOUND_ALLOW")),
            outbound_ca_bundle=Path(env["LMS_OUTBOUND_CA_BUNDLE"])
            if env.get("LMS_OUTBOUND_CA_BUNDLE")
            else None,
            old_secret_keys=_list(env.get("LMS_OLD_SECRET_KEYS")),
            clock_file=Path(env["LMS_CLOCK_FILE"]) if env.get("LMS_CLOCK_FILE") else None,
            tick_seconds=_optional_int(env, "LMS_TICK_SECONDS"),
            retention_days=_int(env, "LMS_RETENTION_DAYS", 6 * 365 + 2),
        )
        return settings.validated()

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some fields replaced (tests and tools use this)."""
        return replace(self, **changes).validated()

    def validated(self) -> Settings:
        """Refuse configurations that must not run, e.g. production without a secret key."""
        if self.env not in {"development", "production", "testing"}:
            raise ConfigError(f"LMS_ENV must be development, production or testing: {self.env!r}")
        positive = (
            "session_hours",
            "session_idle_minutes",
            "login_account_failures",
            "login_address_failures",
            "login_window_minutes",
            "checkpoint_minutes",
            "retention_days",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"LMS_{name.upper()} must be at least 1")
        if (self.clock_file or self.tick_seconds) and self.env != "testing":
            raise ConfigError("LMS_CLOCK_FILE and LMS_TICK_SECONDS are for LMS_ENV=testing only")
        if self.invite_days_before_start is not None and self.invite_days_before_start < 0:
            raise ConfigError("LMS_INVITE_DAYS_BEFORE_START must be 0 (on the start date) or more")
        if self.trusted_proxies < 0:
            raise ConfigError("LMS_TRUSTED_PROXIES must be 0 (no proxy) or more")
        if self.default_locale not in self.languages:
            raise ConfigError(f"LMS_DEFAULT_LOCALE must be one of {', '.join(self.languages)}")
        if self.is_production and len(self.secret_key) < 32:
            raise ConfigError(
                "LMS_SECRET_KEY must be set (at least 32 characters) when LMS_ENV=production"
            )
        return self


def development_secret_key(instance_path: Path) -> str:
    """A random key kept in instance/ so development sessions survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    key = secrets.token_hex(32)
    key_file.write_text(key, encoding="utf-8")
    key_file.chmod(0o600)
    return key
