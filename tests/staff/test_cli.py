"""`inquiry staff …` on the command line: accounts, passwords from stdin, tokens shown once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from inquiry.config import Settings
from inquiry.staff.cli import run


def staff(settings: Settings, *argv: str, stdin: str = "") -> str:
    out = io.StringIO()
    assert run(list(argv), io.StringIO(stdin), out, settings) == 0
    return out.getvalue()


@pytest.fixture
def cli_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")


class TestStaffCommand:
    def test_add_with_password_from_stdin_then_mint_a_token(self, cli_settings: Settings) -> None:
        added = staff(
            cli_settings,
            "add",
            "Front.Desk@Clinic.ca",
            "--role",
            "admin",
            "--password-stdin",
            stdin="correct horse battery staple\n",
        )
        assert added == "added front.desk@clinic.ca (admin), id 1\n"

        token = staff(cli_settings, "token", "front.desk@clinic.ca").strip()

        assert token.startswith("inqs_")
        listed = staff(cli_settings, "tokens", "front.desk@clinic.ca")
        assert token[:12] in listed
        assert token not in listed  # shown once, never again
        assert staff(cli_settings, "list") == "1\tfront.desk@clinic.ca\tadmin\tactive\n"

    def test_refusals_exit_with_a_message(self, cli_settings: Settings) -> None:
        with pytest.raises(SystemExit, match="at least 12 characters"):
            staff(cli_settings, "add", "a@clinic.ca", "--password-stdin", stdin="short\n")
        with pytest.raises(SystemExit, match="no staff account"):
            staff(cli_settings, "token", "nobody@clinic.ca")
        staff(cli_settings, "add", "a@clinic.ca", "--role", "admin", "--no-password")
        with pytest.raises(SystemExit, match="last active admin"):
            staff(cli_settings, "disable", "a@clinic.ca")

    def test_disable_enable_set_role_passwd_and_revoke(self, cli_settings: Settings) -> None:
        staff(cli_settings, "add", "boss@clinic.ca", "--role", "admin", "--no-password")
        staff(cli_settings, "add", "agent@clinic.ca", "--no-password")
        assert staff(cli_settings, "disable", "agent@clinic.ca") == "agent@clinic.ca is disabled\n"
        assert staff(cli_settings, "enable", "agent@clinic.ca") == "agent@clinic.ca is active\n"
        assert staff(cli_settings, "set-role", "agent@clinic.ca", "admin").endswith("admin\n")
        changed = staff(
            cli_settings,
            "passwd",
            "agent@clinic.ca",
            "--password-stdin",
            stdin="a much longer password\n",
        )
        assert changed == "password of agent@clinic.ca changed\n"
        staff(cli_settings, "token", "agent@clinic.ca")
        assert staff(cli_settings, "revoke", "1").startswith("token 1 (inqs_")
        assert "revoked" in staff(cli_settings, "tokens", "agent@clinic.ca")
