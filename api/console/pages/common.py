"""What every page module shares: the navigation, the API client dependency, rendering with both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from api.console.client import Api
from api.console.render import NavItem, page

# One entry per page a visitor may open from the menu, shown by CONSOLE_RULES; a new domain adds its pages here.
NAV = [
    NavItem("Overview", "/"), NavItem("Alerts", "/alerts"), NavItem("Devices", "/devices"),
    NavItem("Topology", "/topology"), NavItem("Cameras", "/cameras"), NavItem("Discovery", "/discovery"),
    NavItem("Scan", "/cylinders/scan"), NavItem("Cylinders", "/cylinders"),
    NavItem("Customers", "/cylinders/customers"), NavItem("Reports", "/cylinders/reports"),
    NavItem("Ingress", "/ingress"), NavItem("New reading", "/ingress/new"), NavItem("Events", "/events"),
    NavItem("Timeline", "/events/timeline"), NavItem("Admin", "/admin"),
]


async def api_client(request: Request) -> AsyncIterator[Api]:
    api = Api(request)
    try:
        yield api
    finally:
        await api.close()


ApiDep = Annotated[Api, Depends(api_client)]


def show(request: Request, template: str, **context: Any) -> HTMLResponse:
    return page(request, template, NAV, **context)
