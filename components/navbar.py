"""The top navigation bar, built from the pages a role may open."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def navbar(
    pages: list[dict[str, Any]], role: str | None, username: str | None, extra: Any = None
) -> dbc.Navbar:
    """A navbar linking `pages`, with `extra` (the time zone picker), the user, their role and
    a sign-out link."""
    links = [
        dbc.NavItem(
            dbc.NavLink(
                p["name"], href=p["relative_path"], active="exact", id=f"nav-{p['name'].lower()}"
            )
        )
        for p in pages
    ]
    right: list[Any] = [extra] if extra is not None else []
    if username:
        right += [
            html.Span(
                [html.Strong(username), f" · {role}"], className="navbar-text me-3", id="nav-user"
            ),
            dbc.Button(
                "Sign out",
                href="/logout",
                external_link=True,
                size="sm",
                color="light",
                outline=True,
                id="nav-logout",
            ),
        ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Dugout", href="/"),
                dbc.NavbarToggler(id="nav-toggler"),
                dbc.Collapse(
                    dbc.Nav(links, navbar=True, className="me-auto"),
                    navbar=True,
                    id="nav-collapse",
                    is_open=False,
                ),
                html.Div(right, className="d-flex flex-wrap align-items-center gap-1 nav-right"),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-2",
    )
