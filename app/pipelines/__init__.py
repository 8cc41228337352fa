"""The domain: sources, strategies, stages and the run ledger; no Flask, Dash or scheduler."""

# Every writer of the ledger and market tables lives in this package: importing it registers
# the listeners with which those writes forget the rollup slices they change.
import app.rollups.invalidation  # noqa: F401
