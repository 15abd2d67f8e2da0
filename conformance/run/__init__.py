"""A run: plans sent over the wire by the runner, each connection judged and written as it ends, the outcome."""
