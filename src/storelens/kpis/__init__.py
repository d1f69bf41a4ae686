"""Retail KPIs computed from stored events, visits and POS transactions (issue 20, first slice).

Everything here reads the storage tables (SQLite on the edge, PostgreSQL on ``storelens central``)
and never the live pipeline, so an edge box and the central service give the same numbers for the
same rows. A number whose input is missing (no storefront line, no POS data) is ``None`` with a
reason, never 0: a zero conversion rate and "we have no till data" call for different actions.

Modules: :mod:`.buckets` (store-local hour/day/week buckets), :mod:`.funnel` (passers-by ->
entries -> engaged -> buyers, per store and per zone), :mod:`.forecast` (hourly footfall forecast,
backtest, anomaly band, staffing), :mod:`.stats` (Wilson/Newcombe/Welch intervals, sample sizes)
and :mod:`.experiments` (promotion uplift against the randomised hold-out), on the till data that
:mod:`.pos` imports and joins to the checkout stays.
"""
