"""Rendering: Jinja templates, the navigation and every button decided by the API's rule table, live regions
limited to the topics the visitor may stream, and `?fragment=NAME` to re-render one region for a live update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.identity.principal import Principal, permits
from api.identity.rules import CONSOLE_RULES, RULES, TOPIC_READ
from api.identity.session import csrf_of

TEMPLATES = Path(__file__).parent / "templates"
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str  # a console page; shown when the visitor may open it (CONSOLE_RULES)


def can(principal: Principal, method: str, path: str) -> bool:
    """Whether the visitor may call this API route (or open this console page): the server decides the same."""
    rule = RULES.get((method, path)) or CONSOLE_RULES.get((method, path))
    return rule is not None and permits(principal, rule)


def live(principal: Principal, *topics: str) -> str:
    """The topics of a live region the visitor may stream (asking for any other would refuse the whole socket)."""
    return " ".join(t for t in topics if t in TOPIC_READ and permits(principal, TOPIC_READ[t]))


def when(value: str | None) -> str:
    """An ISO timestamp as a short UTC text (the page's script shows it in local time where it can)."""
    if not value:
        return "—"
    at = datetime.fromisoformat(value).astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S")


env.filters["when"] = when


def page(request: Request, template: str, nav: list[NavItem], **context: Any) -> HTMLResponse:
    principal: Principal = request.state.principal
    context |= {
        "request": request, "principal": principal, "csrf": csrf_of(request), "path": request.url.path,
        "nav": [item for item in nav if can(principal, "GET", item.path)],
        "can": lambda method, path: can(principal, method, path),
        "live": lambda *topics: live(principal, *topics), "all_topics": sorted(TOPIC_READ),
    }
    chosen = env.get_template(template)
    fragment = request.query_params.get("fragment")
    if fragment and fragment in chosen.blocks:  # one region, for a live update
        html = "".join(chosen.blocks[fragment](chosen.new_context(context)))
    else:
        html = chosen.render(context)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
