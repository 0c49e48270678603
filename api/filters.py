"""WHERE clauses built from optional filters: SQL text and its parameters kept side by side."""

from __future__ import annotations

from typing import Any

from psycopg import sql


class Where:
    def __init__(self, first: str = "TRUE") -> None:
        self.clauses: list[sql.Composable] = [sql.SQL(first)]
        self.params: list[Any] = []

    def add(self, clause: str | sql.Composable, *values: Any) -> None:
        self.clauses.append(sql.SQL(clause) if isinstance(clause, str) else clause)
        self.params.extend(values)

    def when(self, value: Any, clause: str | sql.Composable) -> None:
        """Add `clause` with `value` as its parameter, unless the filter was not given (None)."""
        if value is not None:
            self.add(clause, value)

    def sql(self) -> sql.Composable:
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(self.clauses)
