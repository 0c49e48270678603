"""Metric series keys (shared DOMAIN.md "Metrics analytics"): one stable key per numeric series the platform sees or
an ML client sends, e.g. `device/<id>/if/<ifIndex>/in_bps`, and the matcher anomaly alert rules use on them.

A key is 1 to 16 segments joined by `/`, each of letters, digits and `. _ : @ - %` (ids outside that alphabet are
percent-encoded by `segment`), at most 200 characters (it is the Kafka key and an event subject). Series sent
through the ML interface live under `ml/`, so a client cannot write into a series the platform derives.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated
from urllib.parse import quote

from pydantic import Field

MAX_KEY = 200
SEGMENT = r"[A-Za-z0-9._:@%-]+"
SEGMENT_TEXT = re.compile(SEGMENT)
KEY = re.compile(rf"^{SEGMENT}(?:/{SEGMENT}){{0,15}}$")
ML_PREFIX = "ml/"
INTERFACE_METRICS = ("in_bps", "out_bps", "utilisation", "errors_per_s")  # four series per interface


def valid_key(key: str) -> bool:
    return len(key) <= MAX_KEY and KEY.fullmatch(key) is not None  # fullmatch: `$` alone lets a final newline by


# The pattern runs in pydantic-core (Rust's `$` is the end of the text, as `valid_key`'s fullmatch): a Python
# validator here was called once for every point of a batch. The API says what a key is in its own words.
SeriesKey = Annotated[str, Field(min_length=1, max_length=MAX_KEY, pattern=KEY.pattern)]


def series_id(key: str) -> int:
    """The read models' id of a series: the first 8 bytes of sha256(key) as a signed bigint. Computed by writers and
    readers alike, so no look-up table is needed (a collision among a million series has odds of about 3e-8)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def segment(value: str) -> str:
    """An id as one key segment (percent-encoded outside the key alphabet)."""
    return quote(value, safe="._:@-") or "%00"


def interface_series(device_id: str, if_index: int, metric: str) -> str:
    return f"device/{segment(device_id)}/if/{if_index}/{metric}"


def device_series(device_id: str, metric: str) -> str:
    return f"device/{segment(device_id)}/{metric}"


def camera_series(camera_id: str, metric: str) -> str:
    return f"camera/{segment(camera_id)}/{metric}"


def ingress_series(node_id: str) -> str:
    return f"ingress/{segment(node_id)}/level_dbmv"


def labels_of(key: str) -> dict[str, str]:
    """What a key says about its series, as alert labels: `series`, and for platform series the device (or camera,
    node), the interface and the metric."""
    parts = key.split("/")
    labels = {"series": key, "metric": parts[-1]}
    if parts[0] == "device" and len(parts) >= 3:
        labels["device"] = parts[1]
        if len(parts) == 5 and parts[2] == "if":
            labels["if_index"] = parts[3]
    elif parts[0] == "camera" and len(parts) >= 3:
        labels["device"] = labels["camera"] = parts[1]
    elif parts[0] == "ingress" and len(parts) >= 3:
        labels["node_id"] = parts[1]
    return labels


def interface_of(key: str) -> tuple[str, int] | None:
    """(device id, ifIndex) of an interface series, else None."""
    parts = key.split("/")
    if len(parts) == 5 and parts[0] == "device" and parts[2] == "if" and parts[3].isdigit():
        return parts[1], int(parts[3])
    return None


MATCHER = re.compile(r"^(?:\*\*|\*|[A-Za-z0-9._:@%-]+)(?:/(?:\*\*|\*|[A-Za-z0-9._:@%-]+)){0,15}$")


def check_matcher(pattern: str) -> str:
    if len(pattern) > MAX_KEY or not MATCHER.match(pattern):
        raise ValueError("a series matcher is a series key whose segments may be `*` (any one segment) or `**` "
                         "(any number of segments, none included)")
    return pattern


def matches(pattern: str, key: str) -> bool:
    """Whether `key` matches a matcher: `device/*/if/*/in_bps`, `device/**`, `ml/team-a/**`. Segment by segment, keeping
    the set of key positions the pattern so far can end at: linear in the pattern's segments times the key's (a
    backtracking regular expression took seconds for `**/**/.../x` against a long key that does not end in x)."""
    segments = key.split("/")
    if not all(SEGMENT_TEXT.fullmatch(s) for s in segments):
        return False
    ends = {0}
    for part in pattern.split("/"):
        if part == "**":
            ends = set(range(min(ends), len(segments) + 1))
        else:
            ends = {i + 1 for i in ends if i < len(segments) and part in ("*", segments[i])}
        if not ends:
            return False
    return len(segments) in ends
