"""No page at this address (Dash Pages renders a module named not_found_404 for unknown paths;
the server answers such a GET with status 404)."""

from __future__ import annotations

from typing import Any

import dash

from components.errors import error_page

dash.register_page(
    __name__,
    path="/404",
    name="Not found",
    nav=False,
    min_role="viewer",
    title="Not found · Dugout",
)


def layout(**_: Any) -> Any:
    """The styled 404 inside the shell."""
    return error_page(
        404,
        "No page here",
        "Nothing lives at this address: it may be mistyped, or the run it named is gone.",
        "page-not-found",
    )
