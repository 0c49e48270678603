"""The types of request fields, so that what the OpenAPI document declares is exactly what the server takes.

Pydantic's lax mode reads more than the document says: "0" or 0 as a datetime (1970-01-01), a zone-less datetime (then
read in the server's zone), `false` as the integer 0, "5" as a number. FastAPI validates a parsed JSON body in Python
mode, where that laxness applies, so request fields use these instead:
- `Instant`: an RFC 3339 date-time (JSON Schema `date-time`): date, time and an offset (`Z` or `±hh:mm`);
- `Day`: an ISO calendar date, `YYYY-MM-DD` (JSON Schema `date`);
  both between 1900 and 2199 as written (`EARLIEST`, `LATEST`): 9999-12-31T23:59:59-14:00 is year 10000 in UTC, which
  a stored row could not be read back as, and a filter at year 1 overflowed the arithmetic of a range;
- `Int`, `Number`, `Flag`: a JSON integer, number (an integer is a number) or boolean, never a string or a boolean
  standing for a number;
- `LabelsIn`: alert labels, names of the label pattern only (`additionalProperties: false` beside
  `patternProperties`, which alone would let a reader of the document send any other name).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict

from api.text import Text
from schemas.alerts.rules import LABEL_NAME
from schemas.envelope import JsonFloat, JsonInt

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_time_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-03-02T08:00:00Z or "
                         "2026-03-02T09:00:00+01:00")
    return value


def _day_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DAY.match(value):
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)
RANGE = f"must be between {EARLIEST} and {LATEST}"


def in_range(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value  # as written: in UTC, a day either side at most
    if not EARLIEST <= day <= LATEST:
        raise ValueError(RANGE)
    return value


ZONES = sorted(available_timezones())  # the IANA names this server's time zone database knows


def _zone(name: str) -> str:
    if name not in KNOWN_ZONES:
        raise ValueError(f"unknown time zone {name!r}; give an IANA name such as Europe/Berlin")
    return name


KNOWN_ZONES = frozenset(ZONES)


Instant = Annotated[AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(in_range)]
Day = Annotated[date, BeforeValidator(_day_text), AfterValidator(in_range)]
Int = JsonInt
Number = JsonFloat
Flag = Annotated[bool, Strict()]
Zone = Annotated[str, AfterValidator(_zone), Field(json_schema_extra={"enum": ZONES}, examples=["Europe/Berlin"])]
LabelsIn = Annotated[dict[Annotated[str, Field(pattern=LABEL_NAME)], Annotated[Text, Field(max_length=500)]],
                     Field(json_schema_extra={"additionalProperties": False})]
