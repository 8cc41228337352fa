"""Rollups of settled history, so a year of ledger reads like a day of it.

A rollup row aggregates one closed slice of time; one module per table:
`run_days` (runs per day), `run_buckets` (chart buckets of run durations and outcomes),
`grid_slots` (the grid of runs' long-window slots, per pipeline and status),
`slo_hours` (SLO events per hour), `grade_days` (graded bets per day and strategy),
`grade_splits` (graded bets per day, strategy, book and market: the statistics),
`bet_totals` (graded bets per day by the bets page's filter keys: its totals line). Each has
`rows_from_ledger` (what a slice holds, computed from the raw rows), `refresh` (store the
settled slices that are missing: the keeper's job) and a `settled_*` read (stored slices, and
the missing ones computed for that read alone: reads never write).

Slices younger than SETTLE are never stored; readers add them, and the window's partial first
slice, from the ledger, so every figure is the same as a scan of the raw rows. Writers forget
the stored slices their rows change (`invalidation`), and the keeper (`keeper`) stores them
again right after, at start-up and as slices settle.
"""
