"""deploy/systemd: the units run real commands as the service's own user, hardened.

`bash .ci/run` also checks them with `systemd-analyze verify` where systemd is installed.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from inquiry.cli import _parser
from tests.deploy.conftest import (
    PLACEHOLDER,
    load_settings,
    unknown_settings,
    with_real_secrets,
)

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
COMMANDS = {
    "inquiry.service": "serve",
    "inquiry-worker@.service": "worker",
    "inquiry-migrate.service": "migrate",
}
UNITS = tuple(COMMANDS)


def directives(unit: str) -> dict[str, list[str]]:
    """Key -> values, across sections; systemd allows a key more than once."""
    found: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def environment_file(*, postgresql: bool = False) -> dict[str, str]:
    """inquiry.env.example as shipped (SQLite), or with its PostgreSQL lines uncommented."""
    lines = (SYSTEMD / "inquiry.env.example").read_text().splitlines()
    if postgresql:
        lines = [line.removeprefix("#") if line.startswith("#INQUIRY_") else line for line in lines]
    settings = (line.partition("=") for line in lines if line and not line.startswith("#"))
    return {key: value for key, _, value in settings}


class TestUnits:
    @pytest.mark.parametrize(("unit", "command"), COMMANDS.items())
    def test_runs_an_inquiry_command_as_the_dedicated_user(self, unit: str, command: str) -> None:
        found = directives(unit)
        [exec_start] = found["ExecStart"]
        program, *arguments = shlex.split(exec_start)
        assert program == "/opt/inquiry/.venv/bin/inquiry"
        assert arguments == [command]
        assert _parser().parse_args(arguments).command == command
        assert found["User"] == ["inquiry"]
        assert found["EnvironmentFile"] == ["/etc/inquiry/inquiry.env"]
        assert "\nu inquiry " in (SYSTEMD / "inquiry.sysusers").read_text()

    @pytest.mark.parametrize("unit", UNITS)
    def test_hardened(self, unit: str) -> None:
        found = directives(unit)
        for key, value in {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "PrivateDevices": "yes",
            "CapabilityBoundingSet": "",
            "StateDirectory": "inquiry",
            "WorkingDirectory": "/var/lib/inquiry",
        }.items():
            assert found[key] == [value], key

    @pytest.mark.parametrize("unit", ["inquiry.service", "inquiry-worker@.service"])
    def test_the_schema_is_migrated_before_the_service_starts(self, unit: str) -> None:
        found = directives(unit)
        assert "inquiry-migrate.service" in found["Requires"]
        assert "inquiry-migrate.service" in " ".join(found["After"]).split()


class TestEnvironmentFile:
    def test_every_setting_is_one_the_service_knows(self) -> None:
        assert unknown_settings(environment_file(postgresql=True)) == []

    def test_valid_for_production_once_secrets_are_filled_in(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = load_settings(with_real_secrets(environment_file()), monkeypatch)
        assert settings.environment == "production"
        assert settings.is_sqlite
        assert settings.worker_in_process
        assert settings.start_up_warnings() == []

    def test_the_postgresql_lines_make_a_valid_configuration_with_separate_workers(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        environment = with_real_secrets(environment_file(postgresql=True))
        settings = load_settings(environment, monkeypatch)
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert not settings.worker_in_process

    def test_the_placeholder_secret_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert environment_file()["INQUIRY_SECRET_KEY"] == PLACEHOLDER
        with pytest.raises(ValidationError, match="INQUIRY_SECRET_KEY must be set"):
            load_settings(environment_file(), monkeypatch)
