"""The WSGI app the process tests serve with gunicorn: the real app, whose create_app starts
this worker's scheduler host."""

from app import create_app

app = create_app()
