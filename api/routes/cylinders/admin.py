"""Admin views of the cylinder fleet: inventory counts and the shipment log (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from api.deps import DbConn, Pool
from api.fields import Instant
from api.filters import Where
from api.paging import Cursor, decode_cursor, encode_cursor
from api.problems import Problem
from api.routes.cylinders.deps import Consistent

router = APIRouter(prefix="/api/admin", tags=["cylinders"])
SHIPMENT_COLUMNS = ("qr_code", "customer", "shipped_at", "sent_by", "returned_at", "received_by", "returned_by")
SHIPMENTS = sql.SQL("SELECT {cols} FROM shipments").format(cols=sql.SQL(", ").join(map(sql.Identifier,
                                                                                     SHIPMENT_COLUMNS)))
NEWEST_FIRST = sql.SQL(" ORDER BY shipped_at DESC, qr_code DESC")
CSV_CHUNK = 1000  # rows per chunk of the streamed CSV


class Count(BaseModel):
    key: str | None
    count: int


class Inventory(BaseModel):
    total: int
    by_status: list[Count]
    by_holder: list[Count]
    by_location: list[Count]


class Shipment(BaseModel):
    qr_code: str
    customer: str
    shipped_at: datetime
    sent_by: str | None
    returned_at: datetime | None
    received_by: str | None
    returned_by: str | None


class ShipmentPage(BaseModel):
    items: list[Shipment]
    next_cursor: str | None


async def counts(conn: DbConn, column: str, where: str = "") -> list[Count]:
    query = sql.SQL("SELECT {c}, count(*) FROM cylinders {w} GROUP BY {c} ORDER BY count(*) DESC, {c}").format(
        c=sql.Identifier(column), w=sql.SQL(where))
    return [Count(key=k, count=n) for k, n in await (await conn.execute(query)).fetchall()]


@router.get("/inventory", response_model=Inventory, dependencies=[Consistent])
async def inventory(conn: DbConn) -> Inventory:
    """How many cylinders there are, by status, by customer holding them and by location."""
    by_status = await counts(conn, "status")
    return Inventory(total=sum(c.count for c in by_status), by_status=by_status,
                     by_holder=await counts(conn, "holder", "WHERE holder IS NOT NULL"),
                     by_location=await counts(conn, "location", "WHERE status <> 'trashed'"))


@router.get("/shipments", response_model=ShipmentPage, dependencies=[Consistent],
            responses={200: {"content": {"text/csv": {}},
                             "description": "JSON pages, or with format=csv every matching shipment in one streamed "
                                            "CSV answer (limit and cursor apply to JSON pages only)"}})
async def shipments(
    pool: Pool,
    customer: Annotated[str | None, Query(max_length=200)] = None,
    shipped_from: Instant | None = None, shipped_to: Instant | None = None,
    open_only: Annotated[bool, Query(description="only cylinders still at the customer")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100, cursor: Cursor | None = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the API's word
) -> ShipmentPage | Response:
    """Every delivery with who sent it, who received it back and when; newest first. The CSV export is the whole
    filtered log, streamed: a spreadsheet wants every row, and a "next page" link would have to carry every filter."""
    where = Where()
    where.when(customer, "customer = %s")
    where.when(shipped_from, "shipped_at >= %s")
    where.when(shipped_to, "shipped_at < %s")
    if open_only:
        where.add("returned_at IS NULL")
    if format == "csv":
        return StreamingResponse(csv_export(pool, where), media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="shipments.csv"'})
    if cursor:
        at, code = decode_cursor(cursor, 2)
        try:
            where.add("(shipped_at, qr_code) < (%s, %s)", datetime.fromisoformat(str(at)), str(code))
        except ValueError as e:
            raise Problem(400, "The cursor is not valid; use next_cursor from a previous page.") from e
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SHIPMENTS + where.sql() + NEWEST_FIRST + sql.SQL(" LIMIT %s"), [*where.params, limit + 1])
        rows = await cur.fetchall()
    items = [Shipment(**r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].shipped_at.isoformat(), items[-1].qr_code) if len(rows) > limit else None
    return ShipmentPage(items=items, next_cursor=next_cursor)


async def csv_export(pool: AsyncConnectionPool, where: Where) -> AsyncIterator[str]:
    """The header, then every matching row, read through a server-side cursor in chunks (memory stays flat)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SHIPMENT_COLUMNS)
    async with pool.connection() as conn, conn.transaction(), conn.cursor(name="shipments_csv") as cur:
        cur.itersize = CSV_CHUNK
        await cur.execute(SHIPMENTS + where.sql() + NEWEST_FIRST, where.params)
        count = 0
        async for row in cur:
            writer.writerow([_cell(value) for value in row])
            count += 1
            if count % CSV_CHUNK == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formulas when opened in a spreadsheet
