"""Counts computed from the raw tables with set-based SQL, one query per family of
figures and many spans at once. The nightly snapshots store them
(``surveys.services.snapshots``); the partner API reads the survey counts directly, with
the same query, so both apply the same counting rule and the same partner rule
(docs/metrics.md)."""
