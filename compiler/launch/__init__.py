"""The launcher: the callable that runs a plan (check, allocate, launch)."""
