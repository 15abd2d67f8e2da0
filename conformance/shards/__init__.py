"""The distributed half of a run: each pytest-xdist worker runs a share of the planned connections."""
