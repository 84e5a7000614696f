"""The one exception type of ftrun: the CLI prints it as one red line and exits 1."""


class FtrunError(Exception):
    """What was expected, what was found, and what to do next, in one line."""


def choose(kind: str, value: str, valid) -> str:
    """Return value if it is one of valid, else raise naming the valid choices."""
    valid = list(valid)
    if value not in valid:
        raise FtrunError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")
    return value
