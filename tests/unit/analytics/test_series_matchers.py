"""Series matchers (`device/*/if/*/in_bps`, `ml/team-a/**`): the segment matcher follows the definition (the regular
expression it replaced did not quite), and a hostile matcher costs microseconds, not seconds (an admin's rule is
matched against every anomaly)."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.analytics.series import SEGMENT, check_matcher, matches


def spec(parts: list[str], segments: list[str]) -> bool:
    """The definition, by brute force: `*` is any one segment, `**` any number of segments (none included)."""
    if not parts:
        return not segments
    head, rest = parts[0], parts[1:]
    if head == "**":
        return any(spec(rest, segments[i:]) for i in range(len(segments) + 1))
    return bool(segments) and head in ("*", segments[0]) and spec(rest, segments[1:])


def by_definition(pattern: str, key: str) -> bool:
    segments = key.split("/")
    return all(re.fullmatch(SEGMENT, s) for s in segments) and spec(pattern.split("/"), segments)


def by_regex(pattern: str, key: str) -> bool:
    """The backtracking regular expression the matcher was before."""
    parts = []
    for i, part in enumerate(pattern.split("/")):
        lead = "/" if i else ""
        if part == "**":
            parts.append(f"(?:{lead}{SEGMENT})*" if i else f"(?:{SEGMENT}(?:/{SEGMENT})*)?")
        else:
            parts.append(lead + (SEGMENT if part == "*" else re.escape(part)))
    return re.match("^" + "".join(parts) + "$", key) is not None


NAMES = st.sampled_from(["a", "b", "if", "x.y", "9"])
PATTERNS = st.lists(st.one_of(NAMES, st.just("*"), st.just("**")), min_size=1, max_size=6).map("/".join)
KEYS = st.lists(st.one_of(NAMES, st.just("c:d"), st.just("")), min_size=1, max_size=7).map("/".join)


@settings(max_examples=2000)
@given(pattern=PATTERNS, key=KEYS)
def test_the_matcher_follows_the_definition(pattern: str, key: str) -> None:
    assert matches(check_matcher(pattern), key) is by_definition(pattern, key)


def test_a_leading_double_star_matches_no_segment_too() -> None:
    """The regular expression wanted a "/" after a leading `**` that matched nothing: `**/in_bps` missed `in_bps`."""
    assert matches("**/in_bps", "in_bps") and not by_regex("**/in_bps", "in_bps")


def test_a_hostile_matcher_is_cheap() -> None:
    pattern = check_matcher("/".join(["**"] * 15 + ["x"]))
    key = "/".join(["ml"] + ["a"] * 14 + ["y"])
    started = time.perf_counter()
    assert not matches(pattern, key)
    assert time.perf_counter() - started < 0.01
    assert matches("ml/**/b", "ml/a/a/b") and matches("**", "ml") and not matches("ml/*", "ml")
