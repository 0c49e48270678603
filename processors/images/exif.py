"""EXIF facts from Pillow's parsed tags, each value checked on its own.

Cameras and editors write every kind of nonsense (zero denominators, NaN, year 0, NUL-padded strings, latitudes past
the pole), so each fact is read by a small function that returns None for a value it cannot trust. One bad tag
never costs the others, and nothing here raises: the caller records which facts were dropped (`notes`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image, TiffImagePlugin

# Tag numbers (EXIF 2.32). Pillow names them too, but numbers are what the spec and exiftool documentation use.
ORIENTATION, MAKE, MODEL = 0x0112, 0x010F, 0x0110
EXPOSURE_TIME, F_NUMBER, ISO, FOCAL_LENGTH = 0x829A, 0x829D, 0x8827, 0x920A
DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x9003, 0x9011, 0x9291
LENS_MODEL, BODY_SERIAL = 0xA434, 0xA431
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6

_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Plausible:
    """What a real camera can write; outside it a value is a defect, not a fact."""

    earliest_year: int = 1826  # the oldest surviving photograph; scans of old prints may carry early dates
    latest_year: int = 2100
    max_exposure_s: float = 86_400.0
    f_number: tuple[float, float] = (0.3, 1_000.0)
    max_iso: int = 10_000_000
    focal_length_mm: tuple[float, float] = (0.1, 10_000.0)
    altitude_m: tuple[float, float] = (-12_000.0, 100_000.0)
    max_text: int = 200


@dataclass(frozen=True, slots=True)
class ExifFacts:
    orientation: int | None = None
    taken_at: datetime | None = None
    make: str | None = None
    model: str | None = None
    lens_model: str | None = None
    exposure_time: Fraction | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length_mm: float | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    gps_altitude_m: float | None = None
    has_body_serial: bool = False
    dropped: tuple[str, ...] = field(default=())  # facts present but refused, e.g. "gps_latitude"


def _fraction(value: Any) -> Fraction | None:
    """A finite non-negative rational, or None; a zero denominator (Pillow's NaN) is None."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    try:
        if isinstance(value, TiffImagePlugin.IFDRational):
            if value.denominator == 0:
                return None
            result = Fraction(int(value.numerator), int(value.denominator))
        elif isinstance(value, int) and not isinstance(value, bool):
            result = Fraction(value)
        elif isinstance(value, float) and math.isfinite(value):
            result = Fraction(value)
        else:
            return None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if result >= 0 else None


def _in_range(value: Fraction | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if low <= number <= high else None


def text(value: Any, limit: int = 200) -> str | None:
    """ASCII tags end at the first NUL (EXIF 2.32 4.6.2); what follows is padding or garbage, never data."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = _CONTROL.sub("", value.split("\x00", 1)[0]).strip()
    return cleaned[:limit] or None


def taken_at(date: Any, offset: Any, subsec: Any, plausible: Plausible) -> datetime | None:
    """DateTimeOriginal is local time without a zone: aware only when OffsetTimeOriginal gives the offset."""
    found = _DATE.fullmatch(text(date) or "")
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in found.groups())
    if not plausible.earliest_year <= year <= plausible.latest_year:
        return None
    digits = (text(subsec) or "")[:6]
    micro = int(digits.ljust(6, "0")) if digits.isdigit() else 0
    try:
        moment = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:  # 2023:02:30, 25:61:00 and friends
        return None
    zone = _OFFSET.fullmatch(text(offset) or "")
    if zone is None:
        return moment
    sign = -1 if zone.group(1) == "-" else 1
    hours, minutes = int(zone.group(2)), int(zone.group(3))
    if hours > 14 or minutes > 59:  # real offsets lie within -12:00..+14:00
        return moment
    return moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


def _degrees(value: Any) -> float | None:
    """GPS coordinates are up to three rationals: degrees, minutes, seconds."""
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        return None
    parts = [_fraction(part) for part in value]
    if any(part is None for part in parts):
        return None
    total = sum((part / 60**index for index, part in enumerate(parts) if part is not None), Fraction(0))
    return float(total)


def coordinate(value: Any, ref: Any, positive: str, negative: str, bound: float) -> float | None:
    """The sign comes from the ref; without a valid ref the hemisphere is unknown, so the coordinate is too."""
    degrees = _degrees(value)
    hemisphere = (text(ref) or "").upper()[:1]
    if degrees is None or degrees > bound or hemisphere not in (positive, negative):
        return None
    return -degrees if hemisphere == negative else degrees


def altitude(value: Any, ref: Any, plausible: Plausible) -> float | None:
    metres = _in_range(_fraction(value), 0.0, max(abs(bound) for bound in plausible.altitude_m))
    if metres is None:
        return None
    below = ref in (1, b"\x01", (1,))  # ref 1: below sea level; 0 or absent: above
    signed = -metres if below else metres
    low, high = plausible.altitude_m
    return signed if low <= signed <= high else None


def _iso(value: Any, plausible: Plausible) -> int | None:
    if isinstance(value, tuple):
        value = value[0] if value else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= plausible.max_iso:
        return value
    return None


def read(exif: Image.Exif, plausible: Plausible | None = None) -> ExifFacts:
    rules = plausible or Plausible()
    main: Mapping[int, Any] = exif
    sub: Mapping[int, Any] = _ifd(exif, ExifTags.IFD.Exif)
    gps: Mapping[int, Any] = _ifd(exif, ExifTags.IFD.GPSInfo)
    raw_orientation = main.get(ORIENTATION)
    exposure = _fraction(sub.get(EXPOSURE_TIME))
    facts = ExifFacts(
        orientation=raw_orientation if raw_orientation in range(1, 9) else None,
        taken_at=taken_at(sub.get(DATE_TIME_ORIGINAL), sub.get(OFFSET_TIME_ORIGINAL),
                          sub.get(SUBSEC_TIME_ORIGINAL), rules),
        make=text(main.get(MAKE), rules.max_text),
        model=text(main.get(MODEL), rules.max_text),
        lens_model=text(sub.get(LENS_MODEL), rules.max_text),
        exposure_time=exposure if exposure and 0 < exposure <= rules.max_exposure_s else None,
        f_number=_in_range(_fraction(sub.get(F_NUMBER)), *rules.f_number),
        iso=_iso(sub.get(ISO), rules),
        focal_length_mm=_in_range(_fraction(sub.get(FOCAL_LENGTH)), *rules.focal_length_mm),
        gps_latitude=coordinate(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), "N", "S", 90.0),
        gps_longitude=coordinate(gps.get(GPS_LON), gps.get(GPS_LON_REF), "E", "W", 180.0),
        gps_altitude_m=altitude(gps.get(GPS_ALT), gps.get(GPS_ALT_REF), rules),
        has_body_serial=text(sub.get(BODY_SERIAL)) is not None,
    )
    present = {"orientation": ORIENTATION in main, "taken_at": DATE_TIME_ORIGINAL in sub,
               "exposure_time": EXPOSURE_TIME in sub, "f_number": F_NUMBER in sub, "iso": ISO in sub,
               "focal_length_mm": FOCAL_LENGTH in sub, "gps_latitude": GPS_LAT in gps,
               "gps_longitude": GPS_LON in gps, "gps_altitude_m": GPS_ALT in gps}
    dropped = tuple(name for name, there in present.items() if there and getattr(facts, name) is None)
    return replace(facts, dropped=dropped)


def _ifd(exif: Image.Exif, which: ExifTags.IFD) -> Mapping[int, Any]:
    """A sub-IFD with a bad offset or a loop is an empty one: its facts are lost, not the file."""
    try:
        return exif.get_ifd(which)
    except Exception:  # Pillow raises struct.error, ValueError, KeyError, OSError... on broken IFDs
        return {}
