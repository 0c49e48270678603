"""Cylinder reads: list, one, history, QR code images; customers and their balances as of any moment."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Path, Query, Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from api.deps import DbConn
from api.fields import Day, Instant
from api.filters import Where
from api.paging import Cursor, decode_cursor, encode_cursor
from api.problems import Problem
from api.routes.cylinders.deps import Consistent
from api.routes.images.subjects import subject_images, version_at
from schemas.cylinders.events import QR_CODE, CylinderStatus
from schemas.envelope import utc_now

router = APIRouter(tags=["cylinders"])
Code = Annotated[str, Path(pattern=QR_CODE)]
SELECT = ("SELECT qr_code, status, holder, station, location, retest_due, version, added_at, last_scan_at,"
          " last_scan_by, last_action, reprints, overdue, retest_due_soon, last_rejection FROM cylinders")


class CylinderOut(BaseModel):
    qr_code: str
    status: CylinderStatus
    holder: str | None
    station: str | None
    location: str | None
    retest_due: date
    version: int
    added_at: datetime
    last_scan_at: datetime | None
    last_scan_by: str | None
    last_action: str | None
    reprints: int
    overdue: bool
    retest_due_soon: bool
    last_rejection: str | None


class CylinderPage(BaseModel):
    items: list[CylinderOut]
    next_cursor: str | None


class CylinderHistoryEntry(BaseModel):
    version: int
    type: str
    at: datetime
    worker: str | None
    scan_id: str | None
    data: dict[str, Any]


class Balance(BaseModel):
    customer: str
    as_of: datetime
    count: int
    qr_codes: list[str]


class CustomerBalance(BaseModel):
    customer: str
    count: int


@router.get("/api/cylinders", response_model=CylinderPage, dependencies=[Consistent])
async def list_cylinders(
    conn: DbConn, status: CylinderStatus | None = None,
    holder: Annotated[str | None, Query(max_length=200)] = None,
    overdue: bool | None = None, retest_due_before: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor | None = None,
) -> CylinderPage:
    where = Where()
    where.when(status.value if status else None, "status = %s")
    where.when(holder, "holder = %s")
    where.when(overdue, "overdue = %s")
    where.when(retest_due_before, "retest_due < %s")
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        where.add("qr_code > %s", str(after))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL(SELECT) + where.sql() + sql.SQL(" ORDER BY qr_code LIMIT %s"),
                          [*where.params, limit + 1])
        rows = await cur.fetchall()
    items = [CylinderOut(**r) for r in rows[:limit]]
    return CylinderPage(items=items, next_cursor=encode_cursor(items[-1].qr_code) if len(rows) > limit else None)


LABEL_W, LABEL_H, LABEL_COLUMNS = 220, 250, 3


@router.get("/api/cylinders/labels.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}, "description": "a printable sheet of labels"}})
async def label_sheet(codes: Annotated[list[Annotated[str, Query(pattern=QR_CODE)]],
                                       Query(min_length=1, max_length=99, description="repeat for each cylinder")]
                      ) -> Response:
    """One printable SVG sheet of QR labels (code printed under each), three to a row, for reprinting."""
    cells = []
    for i, code in enumerate(codes):
        x, y = (i % LABEL_COLUMNS) * LABEL_W, (i // LABEL_COLUMNS) * LABEL_H
        qr = segno.make_qr(code, error="m").svg_inline(scale=1, border=4, omitsize=True)  # has a viewBox, no size
        qr = qr.replace("<svg ", f'<svg x="{x + 10}" y="{y + 10}" width="200" height="200" ', 1)
        cells.append(f'{qr}<text x="{x + LABEL_W // 2}" y="{y + 230}" text-anchor="middle" '
                     f'font-family="monospace" font-size="16">{code}</text>')
    rows = (len(codes) + LABEL_COLUMNS - 1) // LABEL_COLUMNS
    sheet = (f'<?xml version="1.0" encoding="utf-8"?><svg xmlns="http://www.w3.org/2000/svg" '
             f'width="{LABEL_W * LABEL_COLUMNS}" height="{LABEL_H * rows}">{"".join(cells)}</svg>')
    return Response(sheet, media_type="image/svg+xml")


@router.get("/api/cylinders/{qr_code}", response_model=CylinderOut, dependencies=[Consistent])
async def get_cylinder(qr_code: Code, conn: DbConn, response: Response) -> CylinderOut:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT + " WHERE qr_code = %s", (qr_code,))
        row = await cur.fetchone()
    if row is None:
        raise Problem(404, f"No cylinder {qr_code}.")
    response.headers["ETag"] = f'"{row["version"]}"'
    return CylinderOut(**row)


@router.get("/api/cylinders/{qr_code}/history", response_model=list[CylinderHistoryEntry], dependencies=[Consistent])
async def cylinder_history(qr_code: Code, conn: DbConn) -> list[CylinderHistoryEntry]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT version, type, at, worker, scan_id, envelope->'data' AS data FROM cylinder_history"
                          " WHERE qr_code = %s ORDER BY version, at", (qr_code,))
        rows = await cur.fetchall()
    if not rows:
        raise Problem(404, f"No cylinder {qr_code}.")
    changes = sorted((r["at"], r["version"]) for r in rows)
    images = [CylinderHistoryEntry(version=version_at(changes, i["at"]), type="ImageUploaded", at=i["at"],
                                   worker=i["actor"], scan_id=None, data=i["data"])
              for i in await subject_images(conn, "cylinder", qr_code)]
    return sorted([CylinderHistoryEntry(**r) for r in rows] + images, key=lambda e: (e.version, e.at))


def qr_image(qr_code: str, kind: str) -> bytes:
    out = io.BytesIO()
    segno.make_qr(qr_code, error="m").save(out, kind=kind, scale=8 if kind == "png" else 4, border=4)
    return out.getvalue()


@router.get("/api/cylinders/{qr_code}/qr.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}, "description": "the QR code label"}})
async def qr_svg(qr_code: Code) -> Response:
    return Response(qr_image(qr_code, "svg"), media_type="image/svg+xml")


@router.get("/api/cylinders/{qr_code}/qr.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "the QR code label"}})
async def qr_png(qr_code: Code) -> Response:
    return Response(qr_image(qr_code, "png"), media_type="image/png")


@router.get("/api/customers", response_model=list[CustomerBalance], dependencies=[Consistent])
async def customers(conn: DbConn) -> list[CustomerBalance]:
    """Every customer holding cylinders now, with how many."""
    rows = await (await conn.execute("SELECT holder, count(*) FROM cylinders WHERE holder IS NOT NULL"
                                     " GROUP BY holder ORDER BY holder")).fetchall()
    return [CustomerBalance(customer=h, count=n) for h, n in rows]


@router.get("/api/customers/{customer}/balance", response_model=Balance, dependencies=[Consistent])
async def balance(customer: Annotated[str, Path(max_length=200)], conn: DbConn,
                  as_of: Annotated[Instant | None, Query(description="a past moment; now by default")] = None
                  ) -> Balance:
    """Which cylinders the customer held at that moment, from the shipment history (time travel)."""
    moment = as_of or utc_now()
    rows = await (await conn.execute(
        "SELECT qr_code FROM shipments WHERE customer = %s AND shipped_at <= %s"
        " AND (returned_at IS NULL OR returned_at > %s) ORDER BY qr_code", (customer, moment, moment))).fetchall()
    return Balance(customer=customer, as_of=moment, count=len(rows), qr_codes=[r[0] for r in rows])
