"""The admin Staff page: accounts, their roles, passwords, sessions and tokens.

Every change calls StaffService as the staff API's admin routes do (same checks, same audit
entries). A new or reset password is made here, shown once on the answer to the post, and
never stored or shown again.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from inquiry.console.admin import ADMIN_PATH, AdminDep, admin_page
from inquiry.console.pages import Console, redirect
from inquiry.deps import RowId
from inquiry.errors import NotFound, StaffExists, TransitionNotAllowed
from inquiry.models import ApiToken, Staff, StaffRole, as_utc
from inquiry.staff.service import StaffService

router = APIRouter(prefix=ADMIN_PATH, include_in_schema=False)
STAFF_PATH = f"{ADMIN_PATH}/staff"
_PROBLEMS = ("last_admin", "not_found")
_NOTICES = ("changed",)


def _accounts(console: Console) -> StaffService:
    return StaffService(console.session, console.settings, console.caller)


def new_password() -> str:
    """A password to hand over once: 120 random bits, in letters, digits, '-' and '_'."""
    return secrets.token_urlsafe(15)


def _who(staff: Staff) -> str:
    return staff.name or staff.email


def token_state(token: ApiToken, console: Console) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and as_utc(token.expires_at) <= console.credentials.now:
        return "expired"
    return "live"


@router.get("/staff", response_class=HTMLResponse)
async def staff_page(
    console: AdminDep, problem: Annotated[str, Query(max_length=20)] = ""
) -> HTMLResponse:
    """Every staff account, and the form to add one."""
    return await _list(console, problem=problem if problem in _PROBLEMS else None)


async def _list(
    console: Console,
    *,
    problem: str | None = None,
    status_code: int = 200,
    entered: dict[str, str] | None = None,
) -> HTMLResponse:
    return admin_page(
        console,
        "staff/admin/staff.html",
        "staff",
        status_code,
        members=await _accounts(console).all(),
        roles=list(StaffRole),
        problem=problem,
        entered=entered or {"email": "", "name": "", "role": StaffRole.AGENT.value},
    )


@router.post("/staff", response_class=HTMLResponse)
async def add_staff(console: AdminDep) -> HTMLResponse:
    """Add a colleague with a one-time initial password, shown on the answer only."""
    form = await console.form()
    entered = {key: str(form.get(key, "")).strip()[:254] for key in ("email", "name", "role")}
    if entered["role"] not in set(StaffRole) or len(entered["name"]) > 120:
        return await _list(console, problem="invalid_email", status_code=422, entered=entered)
    password = new_password()
    try:
        staff = await _accounts(console).create(
            email=entered["email"],
            role=StaffRole(entered["role"]),
            name=entered["name"],
            password=password,
        )
    except ValueError:
        return await _list(console, problem="invalid_email", status_code=422, entered=entered)
    except StaffExists:
        return await _list(console, problem="staff_exists", status_code=409, entered=entered)
    return _password_page(console, staff, password)


def _password_page(console: Console, staff: Staff, password: str) -> HTMLResponse:
    return admin_page(
        console, "staff/admin/password.html", "staff", member=staff, password=password
    )


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
async def member_page(
    staff_id: RowId,
    console: AdminDep,
    problem: Annotated[str, Query(max_length=20)] = "",
    notice: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """One account: its role, whether it is enabled, its password, its sessions and tokens."""
    accounts = _accounts(console)
    try:
        member = await accounts.get(staff_id)
    except NotFound:
        return admin_page(console, "staff/problem.html", "staff", 404, problem="problem_not_found")
    tokens = await accounts.tokens_of(member)
    return admin_page(
        console,
        "staff/admin/member.html",
        "staff",
        member=member,
        roles=list(StaffRole),
        tokens=[(token, token_state(token, console)) for token in tokens],
        problem=problem if problem in _PROBLEMS else None,
        notice=notice if notice in _NOTICES else None,
    )


def _member(staff_id: int, **query: str) -> Response:
    return redirect(f"{STAFF_PATH}/{staff_id}", **query)


async def _update(
    console: Console, staff_id: int, *, role: StaffRole | None = None, active: bool | None = None
) -> Response:
    accounts = _accounts(console)
    try:
        await accounts.update(await accounts.get(staff_id), role=role, active=active)
    except NotFound:
        return redirect(STAFF_PATH, problem="not_found")
    except TransitionNotAllowed:
        await console.session.rollback()
        return _member(staff_id, problem="last_admin")
    return _member(staff_id, notice="changed")


@router.post("/staff/{staff_id}/role")
async def change_role(staff_id: RowId, console: AdminDep) -> Response:
    """Make the account an agent or an admin (never the last active admin an agent)."""
    form = await console.form()
    role = str(form.get("role", ""))
    if role not in set(StaffRole):
        return _member(staff_id)
    return await _update(console, staff_id, role=StaffRole(role))


@router.post("/staff/{staff_id}/active")
async def set_active(staff_id: RowId, console: AdminDep) -> Response:
    """Disable the account (its sessions and tokens end, its calls go back), or enable it."""
    form = await console.form()
    active = form.get("active")
    if active not in ("true", "false"):
        return _member(staff_id)
    return await _update(console, staff_id, active=active == "true")


@router.post("/staff/{staff_id}/password", response_class=HTMLResponse)
async def reset_password(staff_id: RowId, console: AdminDep) -> Response:
    """Give the account a new password, shown once; its sessions and tokens end."""
    await console.form()
    accounts = _accounts(console)
    try:
        member = await accounts.get(staff_id)
    except NotFound:
        return redirect(STAFF_PATH, problem="not_found")
    password = new_password()
    await accounts.update(member, password=password)
    return _password_page(console, member, password)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: RowId, console: AdminDep) -> Response:
    """End one session or API token at once."""
    await console.form()
    accounts = _accounts(console)
    try:
        token = await accounts.revoke(await accounts.get_token(token_id))
    except NotFound:
        return redirect(STAFF_PATH, problem="not_found")
    return _member(token.staff_id, notice="changed")
