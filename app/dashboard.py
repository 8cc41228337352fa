"""The Dash app mounted on the Flask server: pages, navbar by role, and page access guards."""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dash
from dash import Dash, Input, Output, dcc, html
from flask import Flask, Response, has_request_context, request
from flask_login import current_user

from app.accounts import role_allows
from app.auth import guard_of
from app.extensions import CLOCK, DASH, SETTINGS
from app.page_weight import ASSETS_NOT_INCLUDED
from components.figures import figure_store
from components.navbar import navbar

# `pages/` and `assets/` are installed beside `app/` (see pyproject's package data), so the same
# paths hold in a checkout and in site-packages.
ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"
ASSETS_DIR = ROOT / "assets"
PAGES_PACKAGE = "pages"


def visible_pages(role: str | None) -> list[dict[str, Any]]:
    """The registered pages this role may open, in navbar order."""
    pages = sorted(dash.page_registry.values(), key=lambda p: (p.get("order") or 0, p["name"]))
    return [
        p for p in pages if role_allows(role, p.get("min_role", "viewer")) and p.get("nav", True)
    ]


def _current_role() -> str | None:
    if not has_request_context():
        return None
    return getattr(current_user, "role", None) if current_user.is_authenticated else None


def serve_layout() -> Any:
    """The shell: navbar for the logged-in role, then the page container."""
    role = _current_role()
    username = getattr(current_user, "username", None) if role else None
    return html.Div(
        [
            navbar(
                visible_pages(role),
                role=role,
                username=username,
                extra=html.Div(
                    [html.Div(id="market-state", role="status"), _zone_picker()],
                    className="d-flex flex-wrap align-items-center",
                ),
            ),
            html.Div(id="kill-switch-banner", role="alert"),
            html.Main(dash.page_container, className="container-fluid py-3"),
            dcc.Store(id="session-role", data=role),
            dcc.Interval(id="shell-refresh", interval=refresh_ms()),
            # live without waiting: a cheap token polled every second; pages' callbacks take
            # it as an input, so they re-read only when a run was created, started or ended
            dcc.Interval(id="live-poll", interval=LIVE_POLL_MS),
            dcc.Store(id="live-token"),
        ]
    )


def page_now() -> Any:
    """The moment a page reads as now: the app's injected clock (`dugout.clock`, as the
    health report uses) or the wall clock."""

    from app.db import utcnow

    clock = CLOCK.find()
    return clock() if clock is not None else utcnow()


def default_zone() -> str:
    """The instance's display time zone (DUGOUT_DISPLAY_TZ), until a user picks another."""

    return str(SETTINGS.of().display_tz)


def _zone_picker() -> Any:
    """Every page's time zone: the choice is kept in the browser (Dash persistence)."""
    import dash_bootstrap_components as dbc

    from components.formatting import zone_options

    default = default_zone() if has_request_context() else "UTC"
    return html.Div(
        [
            dbc.Label("Time zone", html_for="display-tz", className="visually-hidden"),
            dbc.Select(
                id="display-tz",
                options=zone_options(default),
                value=default,
                persistence=True,
                persistence_type="local",
                size="sm",
            ),
        ],
        className="me-2",
    )


def refresh_ms(times: int = 1) -> int:
    """Every page's live-refresh interval: DUGOUT_REFRESH_INTERVAL_S x `times`, in milliseconds
    (slow-moving pages such as graded strategy results refresh every few intervals)."""

    return int(SETTINGS.of().refresh_interval_s * 1000 * times)


LIVE_POLL_MS = 1000


def keep_view(*graph_ids: str) -> None:
    """For each chart made with `components.figures.chart`: a browser-side callback hands the
    graph the figure its server callback stored, with the axes' ranges the user zoomed or
    panned to while the figure's uirevision is unchanged (assets/charts.js says why Dash 4
    needs this). Called at a page module's top level, as its callbacks are."""
    for graph_id in graph_ids:
        dash.clientside_callback(
            dash.ClientsideFunction("dugout", "keepView"),
            Output(graph_id, "figure"),
            Input(figure_store(graph_id), "data"),
            dash.State(graph_id, "figure"),
        )


def live_token_update(_n: int | None, previous: str | None) -> Any:
    """The change token, or no update while it has not moved (nothing downstream fires)."""
    from app.db import get_db
    from app.queries.live import change_token

    with get_db().session() as session:
        token = change_token(session)
    return dash.no_update if token == previous else token


def kill_switch_banner_update(_n: int | None, _path: str | None) -> Any:
    """Every page, every refresh and every navigation: the banner while the switch is engaged."""
    from flask import current_app

    from components.status import kill_switch_banner
    from scheduler.status import kill_state

    return kill_switch_banner(kill_state(current_app._get_current_object()))  # type: ignore[attr-defined]


def market_state_update(_n: int | None, _path: str | None) -> Any:
    """Every page, every refresh: the market pill (open, next first pitch, or why closed)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None

    from app.db import get_db
    from app.queries.market import market_view
    from components.market import market_pill

    now = page_now()
    source = SETTINGS.of().source
    with get_db().session() as session:
        return market_pill(market_view(session, now, source), now)


def _forbidden_layout(required: str) -> Any:
    """The 403 page inside the shell (navbar and all): what is missing, and a way on."""
    from components.errors import error_page

    return error_page(
        403,
        "Not allowed",
        f"This page needs the {required} role; ask an admin if you need it.",
        "page-forbidden",
    )


def page_for(path: str) -> Mapping[str, Any] | None:
    """The registered page serving `path` (its own path or its path template), or None."""
    path = path.rstrip("/") or "/"
    parts = path.split("/")
    for page in dash.page_registry.values():
        template = page.get("path_template")
        if template:
            pattern = template.split("/")
            if len(pattern) == len(parts) and all(
                (p.startswith("<") and p.endswith(">") and bool(v)) or p == v
                for p, v in zip(pattern, parts, strict=True)
            ):
                return page  # type: ignore[no-any-return]
        elif page["path"] == path:
            return page  # type: ignore[no-any-return]
    return None


SHELL_SKIPS = ("/_", "/api/", "/assets/", "/static/")  # never the page shell


def _shell(app: Dash, status: int) -> Response:
    """The app shell (the pages callback renders the 403 or 404 layout in it) with `status`."""
    return Response(app.index(), status=status, mimetype="text/html")


def _guard_layout(layout: Any, required: str) -> Any:
    """Wrap a page's layout so it renders only for users holding `required`."""

    @functools.wraps(layout)
    def guarded(**kwargs: Any) -> Any:
        if has_request_context() and not role_allows(_current_role(), required):
            return _forbidden_layout(required)
        return layout(**kwargs) if callable(layout) else layout

    return guarded


def load_pages(folder: Path = PAGES_DIR, package: str = PAGES_PACKAGE) -> list[str]:
    """Execute every page module as `pages.<name>` and give it its layout.

    Dash's own folder scan names a module after the absolute path it was installed in
    (`srv.venv.lib...pages.overview`), and that name reaches page ids and callback metric labels;
    a stable module name keeps them the same in every deployment. Like Dash, each new app
    re-executes the modules, so their module-level callbacks register with it.
    """
    names = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith(("_", ".")) or "register_page" not in path.read_text("utf-8"):
            continue
        name = f"{package}.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        page = dash.page_registry.get(name)
        if page is not None and not page["supplied_layout"]:
            page["layout"] = module.layout
        names.append(name)
    return names


def unguarded_callbacks(
    callbacks: Mapping[str, Mapping[str, Any]], pages: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Callbacks of pages that need more than `viewer` whose guard is missing or weaker than
    the page's role (every such callback must be a `guarded_callback`)."""
    needs = {p["module"]: p.get("min_role", "viewer") for p in pages}
    weak = []
    for key, entry in callbacks.items():
        fn = entry.get("callback")
        required = needs.get(getattr(fn, "__module__", None) or "")
        if required is None or required == "viewer":
            continue
        guard = guard_of(fn) if fn is not None else None
        if guard is None or not role_allows(guard, required):
            weak.append(f"{fn.__module__}.{fn.__name__} ({key})")  # type: ignore[union-attr]
    return weak


def init_dash(server: Flask) -> Dash:
    """Build the one Dash app of this process on `server` and guard its pages by role."""
    app = Dash(
        __name__,
        server=server,  # type: ignore[arg-type]
        use_pages=True,
        pages_folder="",  # load_pages below imports them under stable names
        assets_folder=str(ASSETS_DIR),
        assets_path_ignore=ASSETS_NOT_INCLUDED,  # the Plotly bundle: only a chart loads it
        title="Dugout",
        update_title=None,  # type: ignore[arg-type]
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    load_pages()
    app.layout = serve_layout
    app.callback(  # on this app: a module-level @callback would reach only the first Dash app
        Output("kill-switch-banner", "children"),
        Input("shell-refresh", "n_intervals"),
        Input("_pages_location", "pathname"),
    )(kill_switch_banner_update)
    app.callback(
        Output("live-token", "data"),
        Input("live-poll", "n_intervals"),
        dash.State("live-token", "data"),
    )(live_token_update)
    app.callback(
        Output("market-state", "children"),
        Input("shell-refresh", "n_intervals"),
        Input("_pages_location", "pathname"),
    )(market_state_update)
    # Page callbacks wait in Dash's global map until the first request moves them to the app.
    from dash._callback import GLOBAL_CALLBACK_MAP

    weak = unguarded_callbacks(
        {**GLOBAL_CALLBACK_MAP, **app.callback_map}, dash.page_registry.values()
    )
    if weak:
        raise RuntimeError(f"privileged callbacks without their role guard: {', '.join(weak)}")
    for page in dash.page_registry.values():
        required = page.get("min_role", "viewer")
        if required != "viewer":
            page["layout"] = _guard_layout(page["layout"], required)

    @server.before_request
    def _page_status() -> Response | None:
        # A page GET answers with the status the page's content says: 403 for a page the role
        # may not open (audited), 404 for no page at all; the body is the shell either way,
        # so the styled page renders inside the navbar.
        if request.method != "GET" or not current_user.is_authenticated:
            return None
        if request.path.startswith(SHELL_SKIPS):
            return None
        page = page_for(request.path)
        if page is None:
            rule = request.url_rule.rule if request.url_rule is not None else ""
            return _shell(app, 404) if rule.endswith("<path:path>") else None  # Dash's catch-all
        required = page.get("min_role", "viewer")
        if not role_allows(current_user.role, required):
            from app.auth import audit_denied

            audit_denied("open_page", f"page {request.path} needs {required}")
            return _shell(app, 403)
        return None

    DASH.put(server, app)
    return app
