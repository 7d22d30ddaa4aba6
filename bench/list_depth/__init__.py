"""ListCohorts at depth: does page 200 cost what page 1 costs? (`python -m bench.list_depth`)."""
