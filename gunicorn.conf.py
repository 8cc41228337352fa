"""gunicorn settings for Dugout (`gunicorn -c gunicorn.conf.py "app:create_app()"`): the same
settings and shutdown hooks `dugout serve` loads, read from the DUGOUT_* environment; see
app/gunicorn_config.py and README "Production notes"."""

import sys

from app.config import ConfigError
from app.gunicorn_config import gunicorn_settings
from scheduler.config import load_every_setting

try:  # a bad setting stops the master with one line naming it, before any worker forks
    load_every_setting()
    globals().update(gunicorn_settings())
except ConfigError as exc:
    sys.stderr.write(f"Error: {exc}\n")
    sys.exit(1)
