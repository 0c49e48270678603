"""Fold records through a projection into fresh copies of its tables (batch by batch, as the runner would, or record
by record in savepoints of one transaction, as it does after a batch failed) and read every copy back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from projections.records import Record
from projections.runner import Projection


async def fold_into_copies(database_url: str, projection: Projection, records: Sequence[Record], batches: list[int],
                           suffix: str, *, isolated: bool = False, order: Mapping[str, str] | None = None
                           ) -> dict[str, list[dict[str, Any]]]:
    """Each table's rows (as dicts, ordered by `order[table]`, else its first column) after the fold."""
    tables = {t: sql.Identifier(f"{t}_{suffix}") for t in projection.tables}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for table, fresh in tables.items():
            await conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(fresh, sql.Identifier(table)))
        try:
            start = 0
            for size in batches:
                async with conn.transaction():
                    if isolated:
                        for record in records[start:start + size]:
                            async with conn.transaction():
                                await projection.apply(conn, [record], tables)
                    else:
                        await projection.apply(conn, records[start:start + size], tables)
                start += size
            found = {}
            async with conn.cursor(row_factory=dict_row) as cur:
                for table, fresh in tables.items():
                    by = (order or {}).get(table, "1")
                    found[table] = await (await cur.execute(
                        sql.SQL("SELECT * FROM {} ORDER BY " + by).format(fresh))).fetchall()
            return found
        finally:
            for fresh in tables.values():
                await conn.execute(sql.SQL("DROP TABLE {}").format(fresh))
