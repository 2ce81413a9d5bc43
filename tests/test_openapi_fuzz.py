"""Every operation of the OpenAPI document, fuzzed by schemathesis against the running service.

Each operation gets valid and invalid requests, staff operations with an admin's API token,
on SQLite and on PostgreSQL. No request may end in a server error, and every status code the
service answers with must be one the document declares for that operation. Sign-out is left
out, and calls that would disable, strip or revoke the fuzzing account itself are aimed at a
second account instead, so the whole run stays signed in.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok

from inquiry.app import create_app
from inquiry.config import Settings
from inquiry.db import migrate
from inquiry.models import StaffRole
from tests.conftest import running_server, scratch_pg_database
from tests.staff.fixtures import StaffUser, make_staff, seed_task

# Bounded, and the same examples every run (derandomized): about 500 requests a database.
EXAMPLES_PER_MODE = 8
SIGN_OUT = ("DELETE", "/api/v1/staff/session")
MAX_BODY_BYTES = Settings.model_fields["max_body_bytes"].default
# Calls that act on one account or token: never on the fuzzing account's own.
OWN_ACCOUNT = {
    ("PATCH", "/api/v1/staff/accounts/{staff_id}"),
    ("DELETE", "/api/v1/staff/accounts/{staff_id}/two-factor"),
    ("POST", "/api/v1/staff/accounts/{staff_id}/tokens"),
}
OWN_TOKEN = ("DELETE", "/api/v1/staff/tokens/{token_id}")


def _document() -> dict[str, Any]:
    """The document the service serves, built without a database (routes need none to list)."""
    settings = Settings(_env_file=None, database_url="sqlite+aiosqlite:///unused.db")
    document: dict[str, Any] = create_app(settings).openapi()
    return document


SCHEMA = schemathesis.openapi.from_dict(_document())
Operation = APIOperation[Any, Any, Any, Any]


def _cases() -> list[Any]:
    """(operation, mode) pairs: valid requests to every operation but sign-out, and invalid
    ones to each that takes parameters or a body (others have nothing to get wrong)."""
    pairs = []
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), result
        operation: Operation = result.ok()
        if (operation.method.upper(), operation.path) == SIGN_OUT:
            continue
        pairs.append(
            pytest.param(operation, GenerationMode.POSITIVE, id=f"valid {operation.label}")
        )
        if list(operation.iter_parameters()) or operation.body:
            pairs.append(
                pytest.param(operation, GenerationMode.NEGATIVE, id=f"invalid {operation.label}")
            )
    return pairs


@dataclass
class FuzzTarget:
    base: str
    admin: StaffUser
    admin_token_id: int
    other: StaffUser
    other_token_id: int
    statuses: Counter[int] = field(default_factory=Counter)


async def _accounts_and_data(settings: Settings) -> tuple[StaffUser, StaffUser]:
    """The fuzzing admin, a second account to aim account changes at, and inquiries with
    tasks, so that the first ids the fuzzer tries name real rows."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        admin = await make_staff(app, "fuzz-admin@example.ca", StaffRole.ADMIN)
        other = await make_staff(app, "fuzz-agent@example.ca", StaffRole.AGENT)
        for _ in range(3):
            await seed_task(app)
    return admin, other


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    """`inquiry serve` on a database of its own, with staff and inquiries in it."""
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with _database(request, folder) as url:
        settings = Settings(_env_file=None, database_url=url, mail_dir=folder / "mail")
        admin, other = asyncio.run(_accounts_and_data(settings))
        env = {
            "INQUIRY_DATABASE_URL": url,
            "INQUIRY_MAIL_DIR": str(folder / "mail"),
            "INQUIRY_RATE_LIMIT_ENABLED": "false",
            "INQUIRY_WORKER_IN_PROCESS": "false",
        }
        with running_server(folder, env) as server:
            [admin_token], [other_token] = (
                _tokens(server.base, admin, account) for account in (admin, other)
            )
            target = FuzzTarget(server.base, admin, admin_token, other, other_token)
            yield target
            print(  # the run's figures, shown with `pytest -s`
                f"\nschemathesis on {request.param}: {sum(target.statuses.values())} requests,"
                f" statuses {dict(sorted(target.statuses.items()))}"
            )
            # Still signed in at the end: the run tested staff operations, not a 401.
            me = requests.get(f"{server.base}/api/v1/staff/me", headers=admin.headers, timeout=30)
            assert me.status_code == 200, me.text
        assert "Traceback" not in server.output, server.output


def _tokens(base: str, admin: StaffUser, account: StaffUser) -> list[int]:
    answer = requests.get(
        f"{base}/api/v1/staff/accounts/{account.id}/tokens", headers=admin.headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return [token["id"] for token in answer.json()]


@contextmanager
def _database(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A migrated database for one server: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        path = folder / "inquiry.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    with scratch_pg_database("inquiry_fuzz") as url:
        asyncio.run(migrate(Settings(_env_file=None, database_url=url)))
        yield url


def _aim_away_from_self(case: Case[Operation], target: FuzzTarget) -> None:
    """Point an account or token change at the second account, never the fuzzing one."""
    key = (case.method.upper(), case.path)
    parameters = case.path_parameters or {}
    if key in OWN_ACCOUNT and parameters.get("staff_id") == target.admin.id:
        parameters["staff_id"] = target.other.id
    if key == OWN_TOKEN and parameters.get("token_id") == target.admin_token_id:
        parameters["token_id"] = target.other_token_id


@pytest.mark.postgres
@pytest.mark.parametrize(("operation", "mode"), _cases())
def test_no_server_error_and_only_documented_statuses(
    fuzz_target: FuzzTarget, operation: Operation, mode: GenerationMode
) -> None:
    session = requests.Session()
    session.headers.update(fuzz_target.admin.headers)
    failures: list[str] = []
    valid: list[Case[Operation]] = []

    def check(
        case: Case[Operation], response: schemathesis.Response | requests.Response, request: str
    ) -> None:
        fuzz_target.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
        except (Failure, FailureGroup) as failure:
            failures.append(f"{response.status_code} to {request}\n{failure}")

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Operation]) -> None:
        _aim_away_from_self(case, fuzz_target)
        response = case.call(base_url=fuzz_target.base, session=session, timeout=30)
        check(case, response, case.as_curl_command())
        if mode is GenerationMode.POSITIVE:
            valid.append(case)

    run()
    if valid:
        # What schemathesis does not send: refusals of the request as a whole.
        case = valid[0]
        unknown = {**(case.query or {}), "unexpected": "1"}
        response = case.call(base_url=fuzz_target.base, session=session, params=unknown)
        check(case, response, f"{case.as_curl_command()} with ?unexpected=1")
        oversized = session.request(
            case.method,
            fuzz_target.base + case.formatted_path,
            data=b"{" + b" " * MAX_BODY_BYTES + b"}",
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        check(case, oversized, f"{case.method} {case.formatted_path} with a body over the limit")
    assert not failures, "\n\n".join(failures[:3])
