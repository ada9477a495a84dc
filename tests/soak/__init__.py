"""The soak test with faults (issue 12): `make soak`, or `python -m tests.soak`; a smoke mode runs in `make test`."""
