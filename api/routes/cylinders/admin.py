"""Admin views of the cylinder fleet: inventory counts and the shipment log (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from api.deps import DbConn
from api.filters import Where
from api.paging import decode_cursor, encode_cursor
from api.problems import Problem
from api.routes.cylinders.deps import Consistent

router = APIRouter(prefix="/api/admin", tags=["cylinders"])
SHIPMENT_COLUMNS = ("qr_code", "customer", "shipped_at", "sent_by", "returned_at", "received_by", "returned_by")


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
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}})
async def shipments(
    conn: DbConn,
    customer: Annotated[str | None, Query(max_length=200)] = None,
    shipped_from: datetime | None = None, shipped_to: datetime | None = None,
    open_only: Annotated[bool, Query(description="only cylinders still at the customer")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100, cursor: Annotated[str | None, Query(max_length=300)] = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the API's word
) -> ShipmentPage | Response:
    """Every delivery with who sent it, who received it back and when; newest first."""
    where = Where()
    where.when(customer, "customer = %s")
    where.when(shipped_from, "shipped_at >= %s")
    where.when(shipped_to, "shipped_at < %s")
    if open_only:
        where.add("returned_at IS NULL")
    if cursor:
        at, code = decode_cursor(cursor, 2)
        try:
            where.add("(shipped_at, qr_code) < (%s, %s)", datetime.fromisoformat(str(at)), str(code))
        except ValueError as e:
            raise Problem(400, "The cursor is not valid; use next_cursor from a previous page.") from e
    query = (sql.SQL("SELECT {cols} FROM shipments").format(cols=sql.SQL(", ").join(map(sql.Identifier,
                                                                                         SHIPMENT_COLUMNS)))
             + where.sql() + sql.SQL(" ORDER BY shipped_at DESC, qr_code DESC LIMIT %s"))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    items = [Shipment(**r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].shipped_at.isoformat(), items[-1].qr_code) if len(rows) > limit else None
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(SHIPMENT_COLUMNS)
        for item in items:
            writer.writerow([_cell(getattr(item, c)) for c in SHIPMENT_COLUMNS])
        headers = {"Content-Disposition": 'attachment; filename="shipments.csv"'}
        if next_cursor:
            headers["Link"] = f'<?format=csv&cursor={next_cursor}>; rel="next"'
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    return ShipmentPage(items=items, next_cursor=next_cursor)


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formulas when opened in a spreadsheet
