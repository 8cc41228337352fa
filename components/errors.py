"""Error pages inside the app shell: a status, a plain sentence and a way back."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html


def error_page(status: int, title: str, sentence: str, element_id: str) -> Any:
    """A centred card: `403 · Not allowed`, why, and a link to the overview."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(str(status), className="display-5 text-muted", id="error-status"),
                html.H1(title, className="h4"),
                html.P(sentence, className="mb-3"),
                dcc.Link("Back to the overview", href="/", className="btn btn-primary btn-sm"),
            ]
        ),
        className="mx-auto my-4 text-center error-page",
        style={"maxWidth": "32rem"},
        id=element_id,
    )
