"""Settings are validated at start-up with messages that say what to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from inquiry.cli import serve_settings
from inquiry.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


class TestSettings:
    def test_defaults_work_on_a_laptop(self) -> None:
        s = settings()
        assert s.is_sqlite
        assert s.database_url.endswith("./var/inquiry.db")
        assert s.mail_transport == "file"
        assert s.admin_email == "admin@ketaminetherapyclinic.ca"

    def test_environment_variables_are_read_with_the_prefix(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INQUIRY_DATABASE_URL", "postgresql+asyncpg://postgres@db/inquiry")
        monkeypatch.setenv("INQUIRY_ALLOWED_ORIGINS", "https://a.ca, https://b.ca/")
        monkeypatch.setenv("INQUIRY_RATE_LIMIT_ENABLED", "false")
        s = Settings(_env_file=None)
        assert not s.is_sqlite
        assert s.allowed_origins == ["https://a.ca", "https://b.ca"]
        assert s.rate_limit_enabled is False

    @pytest.mark.parametrize(
        ("values", "words"),
        [
            ({"database_url": "mysql://x"}, r"use sqlite\+aiosqlite"),
            ({"allowed_origins": ["https://a.ca/path"]}, "is not an origin"),
            ({"rate_limit_per_ip": "lots"}, "is not a rate limit"),
            ({"port": 70000}, "less than or equal to 65535"),
            ({"environment": "production"}, "INQUIRY_SECRET_KEY"),
            ({"crisis_resources": {"en": []}}, "both 'en' and 'fr'"),
            (
                {"outbox_lease_seconds": 30, "outbox_heartbeat_seconds": 11},
                "HEARTBEAT_SECONDS must be at most a third of INQUIRY_OUTBOX_LEASE_SECONDS "
                r"\(30 s leases: at most 10 s\)",
            ),
            ({"outbox_lease_seconds": 1}, "greater than or equal to 2"),
        ],
    )
    def test_bad_values_are_refused_with_a_clear_message(
        self, values: dict[str, object], words: str
    ) -> None:
        with pytest.raises(ValidationError, match=words):
            settings(**values)

    def test_a_heartbeat_of_a_third_of_the_lease_is_accepted(self) -> None:
        short = settings(outbox_lease_seconds=3, outbox_heartbeat_seconds=1)
        assert (short.outbox_lease_seconds, short.outbox_heartbeat_seconds) == (3, 1)
        default = settings()
        assert default.outbox_heartbeat_seconds * 3 <= default.outbox_lease_seconds

    def test_worker_refuses_a_heartbeat_slower_than_a_third_of_the_lease(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "inquiry", "worker"],
            env={
                "INQUIRY_OUTBOX_LEASE_SECONDS": "30",
                "INQUIRY_OUTBOX_HEARTBEAT_SECONDS": "15",
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        [line] = result.stderr.strip().splitlines()
        assert "INQUIRY_OUTBOX_HEARTBEAT_SECONDS must be at most a third" in line

    def test_production_warns_when_the_public_address_is_not_https(self) -> None:
        local = settings(environment="production", secret_key="k" * 40)
        [warning] = local.start_up_warnings()
        assert "INQUIRY_PUBLIC_BASE_URL is http://127.0.0.1:8000" in warning
        public = "https://contact.ketaminetherapyclinic.ca"
        assert not settings(
            environment="production", secret_key="k" * 40, public_base_url=public
        ).start_up_warnings()
        assert not settings().start_up_warnings()  # a laptop runs on plain http

    def test_production_accepts_a_real_secret(self) -> None:
        s = settings(environment="production", secret_key="k" * 40)
        assert s.secret_key.get_secret_value() == "k" * 40

    def test_cli_reports_configuration_errors_without_a_traceback(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "inquiry", "migrate"],
            env={"INQUIRY_PORT": "nope", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert "configuration error: INQUIRY_PORT" in result.stderr
        assert "Traceback" not in result.stderr


class TestPublicBaseUrl:
    @pytest.mark.parametrize(
        ("host", "port", "base"),
        [
            ("127.0.0.1", 8000, "http://127.0.0.1:8000"),
            ("127.0.0.1", 8210, "http://127.0.0.1:8210"),
            ("0.0.0.0", 8210, "http://127.0.0.1:8210"),  # noqa: S104 - a setting, not a bind
            ("::", 8210, "http://127.0.0.1:8210"),
            ("::1", 8210, "http://[::1]:8210"),
            ("clinic.lan", 9000, "http://clinic.lan:9000"),
        ],
    )
    def test_unset_it_is_the_address_served(self, host: str, port: int, base: str) -> None:
        assert settings(host=host, port=port).public_base_url == base

    def test_set_it_wins(self) -> None:
        public = "https://contact.ketaminetherapyclinic.ca"
        assert settings(port=8210, public_base_url=public).public_base_url == public

    def test_serve_links_to_the_address_on_its_command_line(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("INQUIRY_PUBLIC_BASE_URL", raising=False)
        monkeypatch.setenv("INQUIRY_PORT", "8300")
        monkeypatch.chdir(Path(__file__).parent)  # no .env here
        assert serve_settings(None, None).public_base_url == "http://127.0.0.1:8300"
        served = serve_settings("0.0.0.0", 8210)  # noqa: S104 - a setting, not a bind
        assert (served.host, served.port) == ("0.0.0.0", 8210)  # noqa: S104
        assert served.public_base_url == "http://127.0.0.1:8210"
        monkeypatch.setenv("INQUIRY_PUBLIC_BASE_URL", "https://contact.example.ca")
        assert serve_settings(None, 8210).public_base_url == "https://contact.example.ca"
