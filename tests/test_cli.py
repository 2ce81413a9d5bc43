"""The `inquiry` command as a person runs it: what it prints, what it leaves on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from inquiry.config import Settings
from inquiry.db import MIGRATIONS_DIR, DatabaseNotReady, check_schema
from tests.conftest import free_port, scratch_pg_database

READS = [
    ["outbox", "list"],
    ["outbox", "stats"],
    ["staff", "list"],
    ["staff", "tokens", "front.desk@clinic.ca"],
]


def inquiry(folder: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `inquiry ARGV` in `folder` on the embedded defaults (no INQUIRY_* from outside)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("INQUIRY_")}
    return subprocess.run(
        [sys.executable, "-m", "inquiry", *argv],
        cwd=folder,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a command that refused printed (and nothing else)."""
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    return line


@pytest.fixture
def migrated(tmp_path: Path, sqlite_template: Path) -> Path:
    """A working folder whose embedded database is migrated."""
    (tmp_path / "var").mkdir()
    shutil.copy(sqlite_template, tmp_path / "var" / "inquiry.db")
    return tmp_path


class TestMissingDatabase:
    @pytest.mark.parametrize("argv", READS, ids=" ".join)
    def test_a_reading_command_names_the_database_and_creates_nothing(
        self, tmp_path: Path, argv: list[str]
    ) -> None:
        line = one_line(inquiry(tmp_path, *argv))
        assert str(tmp_path / "var" / "inquiry.db") in line
        assert "run `inquiry migrate`" in line
        assert list(tmp_path.iterdir()) == []

    def test_an_unmigrated_file_is_told_apart_from_none(self, tmp_path: Path) -> None:
        (tmp_path / "var").mkdir()
        (tmp_path / "var" / "inquiry.db").touch()
        line = one_line(inquiry(tmp_path, "outbox", "list"))
        assert "has no tables yet: run `inquiry migrate`" in line
        assert (tmp_path / "var" / "inquiry.db").stat().st_size == 0

    def test_an_older_schema_asks_for_migrate(self, migrated: Path) -> None:
        with sqlite3.connect(migrated / "var" / "inquiry.db") as connection:
            connection.execute("UPDATE alembic_version SET version_num = '0003'")
        line = one_line(inquiry(migrated, "staff", "list"))
        assert line.startswith("inquiry staff: the database ")
        newest = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        assert f"is at revision 0003, not {newest}: run `inquiry migrate`" in line

    def test_outbox_retry_and_the_worker_need_an_existing_database(self, tmp_path: Path) -> None:
        for argv in (["outbox", "retry", "1"], ["worker"]):
            assert "run `inquiry migrate`" in one_line(inquiry(tmp_path, *argv))
        assert list(tmp_path.iterdir()) == []

    def test_a_writing_command_creates_the_embedded_database(self, tmp_path: Path) -> None:
        added = inquiry(tmp_path, "staff", "add", "front.desk@clinic.ca", "--no-password")
        assert added.returncode == 0, added.stderr
        assert added.stdout == "added front.desk@clinic.ca (agent), id 1\n"
        listed = inquiry(tmp_path, "staff", "list")
        assert listed.stdout == "1\tfront.desk@clinic.ca\tagent\tactive\n"


class TestPostgresql:
    @pytest.fixture
    def empty_database(self) -> Iterator[str]:
        with scratch_pg_database("inquiry_empty") as url:
            yield url

    def test_unmigrated_and_missing_databases_are_one_line(self, empty_database: str) -> None:
        with pytest.raises(DatabaseNotReady, match=r"has no tables yet: run `inquiry migrate`"):
            asyncio.run(check_schema(Settings(_env_file=None, database_url=empty_database)))
        missing = empty_database.rsplit("/", 1)[0] + "/inquiry_no_such_database"
        with pytest.raises(DatabaseNotReady, match="cannot read the database .*no_such") as error:
            asyncio.run(check_schema(Settings(_env_file=None, database_url=missing)))
        assert "\n" not in str(error.value)

    def test_a_migrated_database_is_ready(self, pg_database: str) -> None:
        asyncio.run(check_schema(Settings(_env_file=None, database_url=pg_database)))


class TestOutput:
    def test_staff_commands_print_only_what_was_asked(self, tmp_path: Path) -> None:
        added = inquiry(tmp_path, "staff", "add", "a@clinic.ca", "--no-password")
        assert added.stdout == "added a@clinic.ca (agent), id 1\n"
        assert added.stderr == ""  # the embedded database was created without a word
        listed = inquiry(tmp_path, "staff", "list")
        assert (listed.stdout, listed.stderr) == ("1\ta@clinic.ca\tagent\tactive\n", "")

    def test_migrate_tells_each_step(self, tmp_path: Path) -> None:
        result = inquiry(tmp_path, "migrate")
        assert result.returncode == 0
        assert "Running upgrade  -> 0001" in result.stderr
        assert "database is at revision head" in result.stderr
        assert "setup plugin" not in result.stderr

    def test_an_empty_outbox_says_so(self, migrated: Path) -> None:
        listed = inquiry(migrated, "outbox", "list")
        assert (listed.returncode, listed.stdout) == (0, "no messages in the outbox\n")
        dead = inquiry(migrated, "outbox", "list", "--status", "dead")
        assert dead.stdout == "no dead messages in the outbox\n"


class TestUnwritableFolder:
    def test_serve_says_so_in_one_line(self, tmp_path: Path) -> None:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        command = [sys.executable, "-m", "inquiry", "serve", "--port", str(free_port())]
        if os.geteuid() == 0:
            # root writes anywhere: run without the capability that lets it.
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
            command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
        env = {name: value for name, value in os.environ.items() if not name.startswith("INQUIRY_")}
        for url in (
            "sqlite+aiosqlite:///readonly/inquiry.db",
            "sqlite+aiosqlite:///readonly/var/x.db",
        ):
            result = subprocess.run(
                command,
                cwd=tmp_path,
                env={**env, "INQUIRY_DATABASE_URL": url},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            line = one_line(result)
            assert line.startswith("inquiry: cannot create or update the database ")
            assert "(is its folder writable?)" in line
        assert list(folder.iterdir()) == []
