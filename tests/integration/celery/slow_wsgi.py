"""The WSGI app the shutdown test serves with gunicorn: the real app over a slow demo source."""

import slow_demo

slow_demo.install()

from app import create_app  # noqa: E402

app = create_app()
