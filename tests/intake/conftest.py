"""What the intake tests share: the API's address, and reading back what was stored."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from inquiry.models import inquiry_table

URL = "/api/v1/inquiries"


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        )


async def stored(engine: AsyncEngine, reference: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(inquiry_table).where(inquiry_table.c.reference == reference)
            )
        ).one()
    return dict(row._mapping)
