"""The command line: events tail, catalog, and clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.factories import reading_body
from tests.helpers.support import ROOT, Stack


def opsledger(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.entry.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_events_tail_prints_the_topic_as_json_lines(stack: Stack, api: httpx.Client) -> None:
    created = api.post("/api/ingress", params={"wait": "true"}, json=reading_body(customer_name="Tail household"))
    assert created.status_code == 201
    proc = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", "events", "tail", "ingress.readings",
                             "--from-beginning"], cwd=ROOT, env=stack.env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            record = json.loads(line)
            assert {"topic", "partition", "offset", "value"} <= record.keys()
            if record["value"] and record["value"].get("subject") == created.json()["id"]:
                assert record["value"]["type"] == "IngressReadingSubmitted"
                break
    finally:
        proc.terminate()
        proc.wait(10)


def test_catalog_writes_the_asyncapi_document(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    done = opsledger("catalog", "--out", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["asyncapi"] == "3.0.0"
    assert "ingress.readings" in {c["address"] for c in document["channels"].values()}


def test_components_refuse_to_start_without_a_backbone() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_", "OPSLEDGER_"))}
    for command in ("api", "projections", "processors", "replay"):
        done = opsledger(*([command, "ingress"] if command == "replay" else [command]), env=env)
        assert done.returncode != 0
        assert "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set" in done.stderr + done.stdout


def test_unknown_projection_is_refused_by_name(stack: Stack) -> None:
    done = opsledger("projections", "nope", env=stack.env())
    assert done.returncode != 0
    assert "unknown projection" in done.stderr + done.stdout


def test_users_create_makes_a_user_who_can_sign_in(stack: Stack) -> None:
    import secrets

    username, password = f"cli-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    env = {**stack.env(), "OPSLEDGER_NEW_USER_PASSWORD": password}
    made = opsledger("users", "create", "--username", username, "--role", "operator", env=env)
    assert made.returncode == 0, made.stderr
    assert f"created operator {username}" in made.stderr + made.stdout
    assert password not in made.stderr + made.stdout
    signed_in = httpx.post(f"{stack.api_url}/api/auth/login", json={"username": username, "password": password})
    assert signed_in.status_code == 200
    again = opsledger("users", "create", "--username", username.upper(), "--role", "viewer", env=env)
    assert again.returncode != 0 and "taken" in again.stderr + again.stdout


def test_users_create_refuses_weak_passwords_and_unknown_roles(stack: Stack) -> None:
    weak = opsledger("users", "create", "--username", "weakling", "--role", "admin",
                     env={**stack.env(), "OPSLEDGER_NEW_USER_PASSWORD": "short"})
    assert weak.returncode != 0 and "at least 12" in weak.stderr + weak.stdout
    same = opsledger("users", "create", "--username", "samesame-name", "--role", "admin",
                     env={**stack.env(), "OPSLEDGER_NEW_USER_PASSWORD": "SameSame-Name"})
    assert same.returncode != 0 and "must not be the username" in same.stderr + same.stdout
    role = opsledger("users", "create", "--username", "rolling", "--role", "superuser",
                     env={**stack.env(), "OPSLEDGER_NEW_USER_PASSWORD": "a-long-enough-password"})
    assert role.returncode != 0
