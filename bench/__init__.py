"""Performance benchmarks of caseloop against the targets in DESIGN.md (run ``make bench``)."""
