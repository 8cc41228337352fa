"""gunicorn settings for Dugout (`gunicorn -c gunicorn.conf.py "app:create_app()"`): the same
settings and shutdown hooks `dugout serve` loads, read from the DUGOUT_* environment; see
app/gunicorn_config.py and README "Production notes"."""

from app.gunicorn_config import gunicorn_settings

globals().update(gunicorn_settings())
