"""Schemathesis against the LIVE OpenAPI document of the session stack, once as an admin and once as a viewer.

Every generated request must answer without a 5xx, and every answer must match the schema and the content type
its operation documents for that status code. Status codes an operation answers but does not list in its
`responses` are collected on the side (they are a documentation gap, not a crash) and reported, per role and
operation, by `test_every_answered_status_is_documented` at the end of this module.

Bounded for CI on two cores: at most MAX_EXAMPLES fuzzed cases per operation (plus Schemathesis' coverage phase,
which is deterministic and small), no Hypothesis deadline, the too-slow health check suppressed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.identity.tokens import issue_access_token
from infra.settings import Settings
from tests.support import JWT_SECRET, Stack, bearer

MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
LOGOUT = "/api/auth/logout"
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# role -> "METHOD /path" -> {status: one example request}: answered statuses the operation does not document.
UNDOCUMENTED: dict[str, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
EXERCISED: dict[str, int] = defaultdict(int)


@dataclass(frozen=True)
class Caller:
    """A dedicated user of one role (never the session's admin token, see `caller`)."""

    role: str
    user_id: uuid.UUID
    headers: dict[str, str]

    def fresh_headers(self) -> dict[str, str]:
        """A new access token of the same user, for requests that revoke the token they carry (logout).

        Minted with the run's JWT secret the way the API mints one at login: logging in per case would run into
        the 5/min per-username login limit."""
        token, _ = issue_access_token(self.user_id, self.role,
                                      Settings.model_validate({"OPSLEDGER_JWT_SECRET": JWT_SECRET}))
        return bearer(token)


def caller(stack: Stack, role: str) -> Caller:
    # A fresh user, not stack.admin_token: POST /api/auth/logout (in the schema, so fuzzed) revokes the token it
    # is sent with, which would sign the whole rest of the suite out. Logout cases get a token of their own.
    headers = stack.user(role)
    profile = httpx.get(f"{stack.api_url}/api/auth/profile", headers=headers, timeout=15)
    assert profile.status_code == 200, profile.text
    return Caller(role, uuid.UUID(profile.json()["id"]), headers)


@pytest.fixture(scope="module")
def live_schema(stack: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json", timeout=15)


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Caller:
    return caller(stack, "admin")


@pytest.fixture(scope="module")
def viewer(stack: Stack) -> Caller:
    return caller(stack, "viewer")


def exercise(case: schemathesis.Case, who: Caller) -> None:
    headers = who.fresh_headers() if case.operation.path == LOGOUT else who.headers
    response = case.call(headers=headers)
    EXERCISED[who.role] += 1
    try:  # Schemathesis' own status check (it knows which of its probes, e.g. TRACE requests, to leave out)
        case.validate_response(response, checks=[status_code_conformance], headers=headers)
    except BaseExceptionGroup:
        url = str(response.request.url)
        UNDOCUMENTED[who.role][f"{case.operation.method.upper()} {case.operation.path}"].setdefault(
            response.status_code, f"{response.request.method} {url[:300]} -> {response.text[:300]}")
    case.validate_response(response, checks=CHECKS, headers=headers)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy (from_fixture) tests read and rewrite `item._nodeid`, which pytest 9.2 no longer
    # has (node ids live in `item._id` now): without this they fail with AttributeError before any request.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("live_schema")


# PATCH /api/auth/users/{user_id} is left out of the admin run only: it (de)activates users and changes roles,
# which must never hit the users the rest of the suite signs in with. The viewer run keeps it (always 403).
# DELETE /api/auth/api-keys/{key_id} stays in: generated ids are random UUIDs, it cannot revoke a key in use.
@schema.exclude(method="PATCH", path="/api/auth/users/{user_id}").parametrize()
@FUZZ_SETTINGS
def test_api_as_admin(case: schemathesis.Case, admin: Caller) -> None:
    exercise(case, admin)


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_viewer(case: schemathesis.Case, viewer: Caller) -> None:
    exercise(case, viewer)


def test_the_suite_admin_is_still_signed_in(stack: Stack) -> None:
    """Nothing fuzzed above may sign out, demote or deactivate the admin the rest of the suite drives."""
    answer = httpx.get(f"{stack.api_url}/api/auth/users", headers=bearer(stack.admin_token), timeout=15)
    assert answer.status_code == 200, answer.text


def test_every_answered_status_is_documented() -> None:
    """Clients generated from /openapi.json only know the listed statuses; each one answered must be listed."""
    assert EXERCISED["admin"] and EXERCISED["viewer"], "run the two Schemathesis tests above in the same session"
    report = [f"{role} {operation}: {status} undocumented, e.g. {example}"
              for role, operations in sorted(UNDOCUMENTED.items())
              for operation, statuses in sorted(operations.items())
              for status, example in sorted(statuses.items())]
    assert not report, "statuses answered but not in the operation's `responses`:\n" + "\n".join(report)
