"""docker-compose.yml cannot run here (no Docker engine): keep it consistent with the code by reading it.

Checked: every opsledger service runs a real `opsledger` command and only sets env vars the settings read;
the backbone images are the official ones; no literal passwords; health checks; the Dockerfile drops root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml

from infra.settings import env_names

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"

# `${NAME:?message}`: compose refuses to start when NAME is unset or empty.
REQUIRED_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}$")


def _load() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())  # safe_load resolves anchors and `<<` merge keys
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        "no services in docker-compose.yml"
    )
    return data


COMPOSE = _load()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _dockerfile(svc: dict[str, Any]) -> str:
    build = svc["build"]
    if isinstance(build, str):  # short form: just the context, default Dockerfile
        return Path(build, "Dockerfile").as_posix()
    return Path(build.get("context", "."), build.get("dockerfile", "Dockerfile")).as_posix()


# Every service with `build` is an opsledger service (and must be built from infra/Dockerfile).
OPSLEDGER = sorted(name for name, svc in SERVICES.items() if "build" in svc)
ONE_SHOT = {"migrate"}


def _env(svc: dict[str, Any]) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", "NAME"]
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (p[1] if len(p) > 1 else None) for p in pairs}
    return {k: None if v is None else str(v) for k, v in env.items()}


def _argv(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command")
    assert cmd, "an opsledger service needs an explicit command (the image's default is --help)"
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def _password_ok(value: str | None) -> bool:
    return value is not None and bool(REQUIRED_REF.match(value))


INTERPOLATION = re.compile(r"\$\{[^}]*\}")


def _split_url(value: str) -> tuple[SplitResult, dict[str, str]]:
    """urlsplit a value that may hold `${...}` references (their `:?` would break the parse)."""
    refs: dict[str, str] = {}

    def stash(m: re.Match[str]) -> str:
        key = f"ref{len(refs)}x"
        refs[key] = m.group(0)
        return key

    return urlsplit(INTERPOLATION.sub(stash, value)), refs


def test_compose_has_the_expected_services() -> None:
    assert {"kafka", "postgres"} <= SERVICES.keys()
    assert {"migrate", "api", "processors", "projections", "notifier"} <= set(OPSLEDGER)
    for name in OPSLEDGER:
        assert _dockerfile(SERVICES[name]) in {"infra/Dockerfile", "./infra/Dockerfile"}, name


# ---- (a) commands are real `opsledger` commands --------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> Any:
    import typer
    import typer.main

    import infra.entry.cli  # imported for real: a missing or broken CLI fails here

    assert isinstance(infra.entry.cli.app, typer.Typer)
    return typer.main.get_command(infra.entry.cli.app)


def _is_group(cmd: Any) -> bool:
    # Duck-typed: typer >= 0.2x ships its own copy of click, so isinstance(cmd, click.Group) is not reliable.
    return callable(getattr(cmd, "list_commands", None)) and callable(getattr(cmd, "get_command", None))


def _resolve(root: Any, argv: list[str]) -> list[str]:
    """Walk the command groups along argv's leading words to a leaf command; return its path."""
    assert _is_group(root), "the opsledger CLI must be a group of sub-commands"
    cmd, path = root, []
    ctx = root.context_class(root, info_name="opsledger")
    for word in argv:
        if word.startswith("-") or not _is_group(cmd):
            break  # an option, or an argument of a leaf command (e.g. `projections NAME`)
        sub = cmd.get_command(ctx, word)
        where = " ".join(["opsledger", *path])
        assert sub is not None, f"`{where}` has no sub-command {word!r} (has: {cmd.list_commands(ctx)})"
        cmd, path = sub, [*path, word]
        ctx = cmd.context_class(cmd, parent=ctx, info_name=word)
    assert path, f"{argv} does not start with an opsledger sub-command"
    assert not _is_group(cmd), f"`opsledger {' '.join(path)}` is a group, not a command"
    return path


@pytest.mark.parametrize("service", OPSLEDGER)
def test_command_is_an_opsledger_command(cli: Any, service: str) -> None:
    _resolve(cli, _argv(SERVICES[service]))


def test_service_commands() -> None:
    assert _argv(SERVICES["migrate"])[:1] == ["migrate"]
    assert _argv(SERVICES["api"])[:1] == ["api"]
    assert _argv(SERVICES["processors"])[:1] == ["processors"]
    assert _argv(SERVICES["projections"])[:1] == ["projections"]
    # `up` starts an embedded broker and database: never in compose.
    assert all(_argv(SERVICES[s])[:1] != ["up"] for s in OPSLEDGER)


def test_resolve_walks_nested_groups_and_rejects_unknown_commands() -> None:
    """The walker itself, on a stand-in app shaped like the real one (independent of infra/cli.py)."""
    import typer
    import typer.main

    app, events = typer.Typer(), typer.Typer()

    @app.command()
    def api() -> None: ...

    @app.command()
    def projections(names: list[str] | None = typer.Argument(None)) -> None: ...

    @events.command()
    def tail(topic: str) -> None: ...

    app.add_typer(events, name="events")
    root = typer.main.get_command(app)
    assert _resolve(root, ["api"]) == ["api"]
    assert _resolve(root, ["projections", "ingress", "files"]) == ["projections"]
    assert _resolve(root, ["events", "tail", "opsledger.ingress"]) == ["events", "tail"]
    with pytest.raises(AssertionError, match="no sub-command"):
        _resolve(root, ["processors"])
    with pytest.raises(AssertionError, match="is a group"):
        _resolve(root, ["events"])


# ---- (b) env vars are settings the code reads ----------------------------------------------------


@pytest.mark.parametrize("service", OPSLEDGER)
def test_env_vars_are_known_settings(service: str) -> None:
    svc = SERVICES[service]
    assert "env_file" not in svc, "env_file hides variables from this check; set them under environment"
    unknown = sorted(set(_env(svc)) - env_names())
    assert not unknown, f"{service} sets env vars no setting reads: {unknown}"


@pytest.mark.parametrize("service", OPSLEDGER)
def test_backbone_points_at_the_compose_services(service: str) -> None:
    env = _env(SERVICES[service])
    assert env.get("KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092"
    url, _ = _split_url(env.get("DATABASE_URL") or "")
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgresql", "postgres", 5432, "/opsledger")
    assert env.get("OPSLEDGER_KAFKA_IDEMPOTENCE") == "true"  # real Apache Kafka supports it
    depends = SERVICES[service].get("depends_on") or {}
    if service in ONE_SHOT:
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
    else:
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_api_listens_on_all_interfaces_and_keeps_files_on_a_volume() -> None:
    api = SERVICES["api"]
    env = _env(api)
    assert env.get("OPSLEDGER_API_HOST") == "0.0.0.0"
    files_dir = env.get("OPSLEDGER_FILES_DIR")
    assert files_dir
    targets = [v.split(":")[1] if isinstance(v, str) else v["target"] for v in api.get("volumes", [])]
    assert files_dir in targets


# ---- (c) official backbone images ----------------------------------------------------------------


def test_backbone_images() -> None:
    assert SERVICES["kafka"]["image"].split(":")[0] == "apache/kafka"
    assert SERVICES["postgres"]["image"].split(":")[0] == "postgres"
    kafka_env = _env(SERVICES["kafka"])
    assert kafka_env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"  # `opsledger migrate` creates topics
    assert kafka_env.get("KAFKA_ADVERTISED_LISTENERS") == "SASL_PLAINTEXT://kafka:9092"


def test_kafka_requires_authentication_and_every_client_signs_in() -> None:
    """No listener a client can reach takes connections without credentials; every opsledger service signs in with
    SASL (the password a required reference) and knows it talks to Apache Kafka (no Tansu patches)."""
    kafka_env = _env(SERVICES["kafka"])
    listeners = dict(item.split("://")[0:2] for item in (kafka_env.get("KAFKA_LISTENERS") or "").split(","))
    mapping = (kafka_env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP") or "").split(",")
    protocols = dict(item.split(":") for item in mapping)
    advertised = {item.split("://")[0] for item in (kafka_env.get("KAFKA_ADVERTISED_LISTENERS") or "").split(",")}
    assert all(protocols[name].startswith("SASL_") for name in advertised)
    assert kafka_env.get("KAFKA_INTER_BROKER_LISTENER_NAME") in advertised
    unauthenticated = {name for name in listeners if not protocols[name].startswith("SASL_")}
    assert unauthenticated <= {kafka_env.get("KAFKA_CONTROLLER_LISTENER_NAMES")}  # the controller, not advertised
    jaas = kafka_env.get("KAFKA_LISTENER_NAME_SASL_PLAINTEXT_PLAIN_SASL_JAAS_CONFIG") or ""
    assert "${KAFKA_PASSWORD:?" in jaas and 'password="${' in jaas
    assert "command-config" in " ".join(map(str, SERVICES["kafka"]["healthcheck"]["test"]))
    for name in OPSLEDGER:
        env = _env(SERVICES[name])
        assert env.get("OPSLEDGER_KAFKA_SECURITY_PROTOCOL", "").startswith("SASL_"), name
        assert env.get("OPSLEDGER_KAFKA_SASL_USERNAME") and _password_ok(env.get("OPSLEDGER_KAFKA_SASL_PASSWORD"))
        assert env.get("OPSLEDGER_KAFKA_BROKER") == "apache", name


# ---- (d) no literal passwords --------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_literal_passwords(service: str) -> None:
    for name, value in _env(SERVICES[service]).items():
        if "PASSWORD" in name.upper():
            assert _password_ok(value), f"{service}: {name} must be a required ${{VAR:?message}} reference"
        if value and "://" in value:
            url, refs = _split_url(value)
            if url.password is not None:
                password = refs.get(url.password, url.password)
                assert _password_ok(password), f"{service}: {name} embeds a literal password"


def test_password_check_rejects_literals_and_defaults() -> None:
    assert _password_ok("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}")
    url, refs = _split_url("postgresql://u:${PW:?set PW}@db:5432/x")
    assert (url.hostname, url.port, refs.get(url.password or "")) == ("db", 5432, "${PW:?set PW}")
    assert _split_url("postgresql://u:hunter2@db/x")[0].password == "hunter2"
    for bad in (
        "hunter2",
        "${POSTGRES_PASSWORD}",
        "${POSTGRES_PASSWORD:-hunter2}",
        "${POSTGRES_PASSWORD-x}",
        None,
    ):
        assert not _password_ok(bad)


# ---- (e) health checks ---------------------------------------------------------------------------


def test_api_and_backbone_have_healthchecks() -> None:
    api_check = SERVICES["api"].get("healthcheck") or {}
    assert not api_check.get("disable")
    assert "http://localhost:8000/healthz" in " ".join(map(str, api_check.get("test", [])))
    for name in ("kafka", "postgres"):
        check = SERVICES[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} needs a healthcheck"


@pytest.mark.parametrize("service", [s for s in OPSLEDGER if s not in ONE_SHOT])
def test_long_running_services_have_healthcheck_or_reason(service: str) -> None:
    svc = SERVICES[service]
    assert svc.get("restart") == "unless-stopped"
    check = svc.get("healthcheck") or {}
    reason = str(svc.get("x-healthcheck-omitted") or "").strip()
    assert (check.get("test") and not check.get("disable")) or reason, (
        f"{service}: add a healthcheck or say why not in x-healthcheck-omitted"
    )


def test_one_shot_services_do_not_restart() -> None:
    for name in ONE_SHOT:
        assert SERVICES[name].get("restart") == "no"


# ---- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_installs_the_package_and_drops_root() -> None:
    assert DOCKERFILE.is_file()
    stripped = (ln.strip() for ln in DOCKERFILE.read_text().splitlines())
    lines = [ln for ln in stripped if ln and not ln.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    users = [ln.split(None, 1)[1].strip() for ln in lines if ln.upper().startswith("USER ")]
    assert users, "the image must not run as root: add a USER line"
    assert users[-1].split(":")[0] not in {"root", "0"}, "the last USER must not be root"
    assert any(ln.startswith("ENTRYPOINT") and "opsledger" in ln for ln in lines)
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".opsledger", ".git"} <= set(dockerignore)
