"""Read models shared by the pages, the JSON API and the CLI: one module per subject, each a
set of functions that take a session (and the time, where a window depends on it) and return
plain data (dataclasses, dicts, numbers, datetimes), never markup or display strings.

Reads never write: settled history comes from the rollup tables that `app.rollups` keeps
current, and a slice not stored yet is computed from the ledger for that read alone.

To add a read model (a new page's data): a new module here with its functions, using the
vocabulary (`app.vocabulary`) for domain words and `app.rollups.*.settled_*` for long windows;
its presentation goes in `components/`.
"""
