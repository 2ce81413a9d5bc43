"""One settings object for the whole service, read from INQUIRY_* variables and an optional .env."""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class MailTransport(StrEnum):
    FILE = "file"
    SMTP = "smtp"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS, usually port 465


class TwoFactorPolicy(StrEnum):
    """Whose staff sessions must pass two-factor sign-in."""

    ADMINS = "admins"
    ALL = "all"
    OFF = "off"  # still asked of anyone who enrolled


class EmailDetail(StrEnum):
    FULL = "full"
    SUMMARY = "summary"  # reference, topic, priority and a staff link: no health information


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"  # one object a line, for a log collector


class ApiDocs(StrEnum):
    PUBLIC = "public"  # /docs and /openapi.json for anyone
    STAFF = "staff"  # /staff/docs and /staff/openapi.json for signed-in staff
    OFF = "off"


_DEV_SECRET = "dev-only-change-me-dev-only-change-me"  # noqa: S105 - refused outside development


def _mailbox(value: str) -> str:
    """A plain ASCII address the relay can deliver to, or a clear error at start-up."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"{value!r} is not an email address: {error}") from error
    return checked.ascii_email or checked.normalized


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# Binding to every interface: a browser on this machine reaches it on the loopback address.
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - compared, not bound


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def served_base_url(host: str, port: int) -> str:
    """The http address a browser on this machine uses for the service bound to host:port."""
    if host in _ANY_ADDRESS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}"


class CrisisResource(BaseModel):
    """A place to get help now, shown to a visitor in crisis."""

    label: str
    contact: str
    detail: str


DEFAULT_CRISIS_RESOURCES: dict[str, list[CrisisResource]] = {
    "en": [
        CrisisResource(
            label="Emergency",
            contact="911",
            detail="If you or someone else is in immediate danger, call 911 or go to the "
            "nearest emergency department.",
        ),
        CrisisResource(
            label="Suicide Crisis Helpline",
            contact="9-8-8",
            detail="Call or text 9-8-8, 24 hours a day, 7 days a week, in English or French.",
        ),
    ],
    "fr": [
        CrisisResource(
            label="Urgence",
            contact="911",
            detail="Si vous ou une autre personne êtes en danger immédiat, composez le 911 ou "
            "rendez-vous à l'urgence la plus proche.",
        ),
        CrisisResource(
            label="Ligne d'aide en cas de crise de suicide",
            contact="9-8-8",
            detail="Appelez ou textez le 9-8-8, 24 heures sur 24, 7 jours sur 7, en français "
            "ou en anglais.",
        ),
    ],
}


DEFAULT_PRIVACY_NOTICE = {
    "en": "We collect only what you give us here: your name, how to reach you, and your "
    "message. It is read by the clinic's staff and physicians, only to answer your inquiry, "
    "and is protected as personal health information under Ontario's Personal Health "
    "Information Protection Act (PHIPA). It is stored in Canada and kept only as long as we "
    "need it to answer you and as the law requires. To ask what we hold about you, correct it "
    "or ask us to delete it, call {phone} or write to {email}.",
    "fr": "Nous recueillons seulement ce que vous nous donnez ici : votre nom, vos "
    "coordonnées et votre message. Il est lu par le personnel et les médecins de la clinique, "
    "uniquement pour répondre à votre demande, et protégé comme renseignement personnel sur "
    "la santé en vertu de la Loi de 2004 sur la protection des renseignements personnels sur "
    "la santé de l'Ontario (LPRPS). Il est conservé au Canada, seulement le temps nécessaire "
    "pour vous répondre et selon ce que la loi exige. Pour savoir ce que nous détenons à "
    "votre sujet, le faire corriger ou le faire supprimer, composez le {phone} ou écrivez à "
    "{email}.",
}


class FormColour(StrEnum):
    """Colours of the hosted pages an embedding site may set to match its own."""

    INK = "ink"
    MUTED = "muted"
    ACCENT = "accent"
    DANGER = "danger"
    LINE = "line"
    BACKGROUND = "background"


class Settings(BaseSettings):
    """Service configuration, validated once at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="INQUIRY_", env_file=".env", extra="ignore", validate_default=True
    )

    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # Embedded default: a SQLite file under ./var/. PostgreSQL: postgresql+asyncpg://...
    database_url: str = "sqlite+aiosqlite:///./var/inquiry.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # Group commit: the writer folds concurrent submissions into one transaction.
    # At most 200: a batch's multi-row INSERTs must stay under PostgreSQL's 32,767 parameters.
    write_batch_max: int = Field(default=64, ge=1, le=200)

    secret_key: SecretStr = SecretStr(_DEV_SECRET)

    # Mail (delivered by the outbox worker): a folder of .eml files by default.
    mail_transport: MailTransport = MailTransport.FILE
    mail_dir: Path = Path("./var/mail")
    admin_email: str = "admin@ketaminetherapyclinic.ca"
    mail_from: str = "Ketamine Therapy Clinic <no-reply@ketaminetherapyclinic.ca>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    # In production a relay off this machine must be reached over TLS, unless this is set.
    smtp_allow_plaintext: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    # CA bundle to trust for the relay (tests use their own); the system store by default.
    smtp_ca_file: Path | None = None
    # Mailboxes hold no health information unless asked: the inquiry page has the rest.
    admin_email_detail: EmailDetail = EmailDetail.SUMMARY

    # Urgent alerts: crisis always, clinical when asked.
    oncall_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alert_on_clinical: bool = False
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # Outbox worker.
    worker_in_process: bool = True  # `inquiry serve` delivers mail itself
    # A worker that dies re-sends at most a batch; smaller batches cost throughput (worker
    # against the bare SMTP loop, PostgreSQL, 6 rounds of 2,000: 0.83 at 50, 0.87 at 100,
    # 0.88 at 200). The benchmark runs this default.
    outbox_batch_size: int = Field(default=100, ge=1, le=1000)
    # A claim lasts this long by the database's clock unless the heartbeat renews it: the
    # rows of a worker that died return within it. See _heartbeat_within_a_lease.
    outbox_lease_seconds: int = Field(default=30, ge=2, le=3600)
    outbox_heartbeat_seconds: float = Field(default=10.0, gt=0)
    outbox_max_lifetime_hours: float = Field(default=48.0, gt=0)
    outbox_poll_seconds: float = Field(default=5.0, gt=0)

    # JSON like {"en": [{"label": …, "contact": …, "detail": …}], "fr": [...]}.
    crisis_resources: dict[str, list[CrisisResource]] = Field(
        default_factory=lambda: dict(DEFAULT_CRISIS_RESOURCES)
    )
    # The clinic's own copy of inquiry/triage/rules.json; `kill -HUP` reloads it.
    triage_rules_path: Path | None = None
    templates_dir: Path = Path(__file__).resolve().parent.parent / "templates"
    clinic_name: str = "Ketamine Therapy Clinic"
    clinic_phone: str = "888-259-9755"
    # Hosted pages: the clinic's logo (a path on this service, or an address on one of the
    # allowed origins) and colours matching the embedding site, e.g. {"accent": "#1f5f7a"}.
    clinic_logo_url: str | None = None
    form_colours: dict[FormColour, str] = Field(default_factory=dict)
    # Shown beside the form's consent box; {phone} and {email} are the clinic's.
    privacy_notice_en: str = DEFAULT_PRIVACY_NOTICE["en"]
    privacy_notice_fr: str = DEFAULT_PRIVACY_NOTICE["fr"]
    # Where staff links in emails point and the hosted form posts to. Unset, it is the
    # address served (INQUIRY_HOST and INQUIRY_PORT, or `inquiry serve --host --port`), so a
    # laptop's links lead to the running service; a separate worker reads the same settings.
    public_base_url: str = ""

    # Browser origins allowed to call the JSON API, post the form, and frame the hosted form.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Client IP comes from X-Forwarded-For only when the direct peer is one of these.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    max_body_bytes: int = Field(default=32 * 1024, ge=1024)
    # Open connections plus requests in progress an `inquiry serve` process takes before it
    # answers 503 at once (uvicorn's limit_concurrency).
    max_connections: int = Field(default=1000, ge=1)
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "10/minute;60/hour"
    rate_limit_per_email: str = "5/hour;20/day"
    # Acknowledgements mailed to one address (mailbox) a day; past it the inquiry is stored
    # and staff are told as ever, only the visitor's acknowledgement is skipped.
    ack_max_per_address_per_day: int = Field(default=3, ge=1)
    # memory:// (one process) or redis://host:6379 (shared by replicas).
    rate_limit_storage_url: str = "memory://"
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    form_token_max_age_seconds: int = Field(default=4 * 3600, ge=60)

    # Callback queue and staff
    clinic_timezone: str = "America/Toronto"
    business_days: Annotated[list[int], NoDecode] = Field(default=[1, 2, 3, 4, 5])  # ISO weekdays
    business_open: time = time(9, 0)
    business_close: time = time(17, 0)
    holiday_subdivision: str = "ON"  # Canadian statutory holidays of this province; "" for none
    # The visitor's preferred call-back windows, in clinic time ("any" is business hours).
    callback_window_morning: str = "09:00-12:00"
    callback_window_afternoon: str = "12:00-17:00"
    callback_window_evening: str = "17:00-20:00"
    callback_due_high_hours: float = Field(default=2, ge=0)  # business hours
    callback_due_normal_days: float = Field(default=1, ge=0)  # business days
    callback_due_low_days: float = Field(default=2, ge=0)
    callback_lease_minutes: int = Field(default=15, ge=1, le=24 * 60)
    callback_retry_hours: float = Field(default=2, gt=0)  # business hours between attempts
    callback_max_attempts: int = Field(default=3, ge=1, le=20)
    # Urgent tasks: minutes between attempts (on call, any hour) and the attempts before an
    # admin decides; an urgent task is never given up on its own.
    callback_retry_urgent_minutes: int = Field(default=15, ge=1, le=24 * 60)
    callback_max_attempts_urgent: int = Field(default=5, ge=1, le=50)
    # A new inquiry whose email or phone matches an open one this recent is linked to it.
    duplicate_window_days: int = Field(default=14, ge=0, le=365)
    staff_password_min_length: int = Field(default=12, ge=8, le=128)
    # zxcvbn's score a new password needs: 3 "safely unguessable", 4 "very unguessable"; 0 off.
    staff_password_min_score: int = Field(default=3, ge=0, le=4)
    # API tokens expire after this many days unless made with no expiry on purpose.
    staff_token_days: int = Field(default=90, ge=1, le=3650)
    # Failed sign-ins allowed per window: per email and address, per account from any
    # address, and per address across accounts.
    staff_login_max_failures: int = Field(default=5, ge=1)
    staff_login_max_failures_per_account: int = Field(default=20, ge=1)
    staff_login_max_failures_per_address: int = Field(default=20, ge=1)
    staff_login_window_minutes: int = Field(default=15, ge=1)
    # Argon2 checks at once (each takes tens of milliseconds on every core it gets), and how
    # many may wait for one before sign-in answers 503: a flood cannot starve intake.
    staff_password_checks_concurrent: int = Field(default=2, ge=1, le=64)
    staff_password_checks_waiting: int = Field(default=16, ge=0, le=10_000)
    # A refused sign-in (429, 503 busy) answers after this pause: a flood's connections then
    # send one attempt a second each, instead of thousands between them that intake's event
    # loop would have to answer.
    staff_login_refusal_delay_seconds: float = Field(default=1.0, ge=0, le=30)
    staff_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # A console session (the browser's cookie) unused this long ends.
    staff_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Unset: admins in production, off in development. API tokens are exempt.
    staff_require_2fa: TwoFactorPolicy | None = None

    # Retention (inquiry.privacy, run by the worker's housekeeping and `inquiry privacy
    # purge`): quarantined spam is deleted, a closed inquiry's contact details and message
    # are removed, and the file transport's mail files are deleted, this many days on.
    spam_retention_days: int = Field(default=30, ge=1, le=3650)
    retention_days: int = Field(default=365, ge=1, le=36500)
    mail_file_retention_days: int = Field(default=30, ge=1, le=3650)

    # On SIGTERM: the requests in hand get this long to finish, then the clean-up as long
    # again (inquiry.shutdown). systemd and compose allow 30 s before SIGKILL, Kubernetes 40.
    shutdown_seconds: int = Field(default=10, ge=1, le=120)

    # Observability: Prometheus metrics on a port of their own (unset: none), log lines as
    # text or JSON, and the API documentation (unset: public in development, off in production).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    log_format: LogFormat = LogFormat.TEXT
    api_docs: ApiDocs | None = None

    @field_validator("business_days", mode="before")
    @classmethod
    def _days_csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("business_days")
    @classmethod
    def _iso_weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(day < 1 or day > 7 for day in value):
            raise ValueError("business days are ISO weekdays 1 (Monday) to 7 (Sunday)")
        return sorted(set(value))

    @field_validator("clinic_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not a time zone like America/Toronto") from error
        return value

    @field_validator(
        "callback_window_morning", "callback_window_afternoon", "callback_window_evening"
    )
    @classmethod
    def _time_range(cls, value: str) -> str:
        start, _, end = value.partition("-")
        try:
            if time.fromisoformat(start.strip()) >= time.fromisoformat(end.strip()):
                raise ValueError(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a range of the day like 09:00-12:00") from error
        return value

    @model_validator(mode="after")
    def _base_url_from_address(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = served_base_url(self.host, self.port)
        return self

    @model_validator(mode="after")
    def _two_factor_by_environment(self) -> Settings:
        if self.staff_require_2fa is None:
            production = self.environment is Environment.PRODUCTION
            self.staff_require_2fa = TwoFactorPolicy.ADMINS if production else TwoFactorPolicy.OFF
        return self

    @model_validator(mode="after")
    def _business_hours(self) -> Settings:
        if self.business_open >= self.business_close:
            raise ValueError("INQUIRY_BUSINESS_OPEN must be before INQUIRY_BUSINESS_CLOSE")
        return self

    @field_validator("allowed_origins", "trusted_proxies", "oncall_emails", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        origins = [origin.rstrip("/") for origin in value]
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://example.ca")
        return origins

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("rate_limit_per_ip", "rate_limit_per_email")
    @classmethod
    def _rate_limits_parse(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a rate limit like '10/minute;60/hour'") from error
        return value

    @field_validator("crisis_resources")
    @classmethod
    def _both_languages(
        cls, value: dict[str, list[CrisisResource]]
    ) -> dict[str, list[CrisisResource]]:
        if set(value) != {"en", "fr"} or not all(value.values()):
            raise ValueError("crisis resources are needed in both 'en' and 'fr'")
        return value

    @field_validator("admin_email")
    @classmethod
    def _admin_address(cls, value: str) -> str:
        return _mailbox(value)

    @field_validator("oncall_emails")
    @classmethod
    def _oncall_addresses(cls, value: list[str]) -> list[str]:
        return [_mailbox(address) for address in value]

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None:
            from urllib.parse import urlsplit

            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - raises on a malformed port
            except ValueError as error:
                raise ValueError(f"{value!r} is not a URL") from error
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("form_colours")
    @classmethod
    def _colours_are_hex(cls, value: dict[FormColour, str]) -> dict[FormColour, str]:
        # Written into the pages' style sheet: only a colour may get there.
        for name, colour in value.items():
            if not re.fullmatch(r"#(?:[0-9a-fA-F]{3}){1,2}", colour):
                raise ValueError(f"{name}: {colour!r} is not a colour like #1f5f7a")
        return value

    @field_validator("privacy_notice_en", "privacy_notice_fr")
    @classmethod
    def _notice_placeholders(cls, value: str) -> str:
        try:
            value.format(phone="", email="")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"only {{phone}} and {{email}} may be filled in: {error}") from error
        return value

    @model_validator(mode="after")
    def _logo_is_ours(self) -> Settings:
        logo = self.clinic_logo_url
        if logo is None or (logo.startswith("/") and not logo.startswith("//")):
            return self
        scheme, _, rest = logo.partition("://")
        if f"{scheme}://{rest.split('/', 1)[0]}".lower() not in self.allowed_origins:
            raise ValueError(
                "INQUIRY_CLINIC_LOGO_URL must be a path on this service (/static/logo.png) "
                "or an address on one of INQUIRY_ALLOWED_ORIGINS"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_within_a_lease(self) -> Settings:
        # Renewed at least three times a lease, a lease survives two missed renewals (a slow
        # or briefly unreachable database) before its sends are stopped.
        if self.outbox_heartbeat_seconds * 3 > self.outbox_lease_seconds:
            raise ValueError(
                "INQUIRY_OUTBOX_HEARTBEAT_SECONDS must be at most a third of "
                f"INQUIRY_OUTBOX_LEASE_SECONDS ({self.outbox_lease_seconds} s leases: "
                f"at most {self.outbox_lease_seconds / 3:g} s)"
            )
        return self

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> Settings:
        if self.alert_webhook_url and not self.alert_webhook_secret:
            raise ValueError("INQUIRY_ALERT_WEBHOOK_SECRET is needed to sign webhook alerts")
        return self

    @model_validator(mode="after")
    def _metrics_port_is_private(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("INQUIRY_METRICS_PORT must differ from INQUIRY_PORT: never public")
        return self

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            secret = self.secret_key.get_secret_value()
            if secret == _DEV_SECRET or len(secret) < 32:
                raise ValueError("INQUIRY_SECRET_KEY must be set to 32+ random characters")
        return self

    @model_validator(mode="after")
    def _no_cleartext_relay_in_production(self) -> Settings:
        if self._cleartext_relay() and not self.smtp_allow_plaintext:
            raise ValueError(
                f"INQUIRY_SMTP_SECURITY=none would send visitors' messages in cleartext to "
                f"{self.smtp_host}: use starttls or tls, or set INQUIRY_SMTP_ALLOW_PLAINTEXT=true "
                "for a relay on a network you trust"
            )
        return self

    def _cleartext_relay(self) -> bool:
        """Production mail over plain SMTP to a relay that is not on this machine."""
        return (
            self.environment is Environment.PRODUCTION
            and self.mail_transport is MailTransport.SMTP
            and self.smtp_security is SmtpSecurity.NONE
            and not _is_loopback(self.smtp_host)
        )

    def start_up_warnings(self) -> list[str]:
        """Settings that work but are probably wrong here: logged when the service starts."""
        warnings = []
        if self._cleartext_relay():
            warnings.append(
                f"mail to {self.smtp_host}:{self.smtp_port} goes in cleartext "
                "(INQUIRY_SMTP_ALLOW_PLAINTEXT=true): anyone on the network between can read "
                "visitors' messages"
            )
        if self.environment is Environment.PRODUCTION and not self.public_base_url.startswith(
            "https://"
        ):
            warnings.append(
                f"INQUIRY_PUBLIC_BASE_URL is {self.public_base_url}: set it to the public https "
                "address, or behind a TLS proxy the hosted form's posts are refused as "
                "cross-site and the staff links in emails lead nowhere"
            )
        return warnings

    @property
    def api_docs_mode(self) -> ApiDocs:
        """Where the API documentation is served: as configured, else by environment."""
        if self.api_docs is not None:
            return self.api_docs
        return ApiDocs.OFF if self.environment is Environment.PRODUCTION else ApiDocs.PUBLIC

    @property
    def message_domain(self) -> str:
        """Domain of the Message-IDs we mint: the sending address's domain."""
        return self.mail_from.rsplit("@", 1)[-1].strip("> ")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
