"""A small schema for ftrun.toml: each key's expected type and range, checked in one place.

A check takes (value, where) and returns the value as ftrun uses it, or raises FtrunError with one line:
where the key is, what was expected, what was found and what to do. Booleans are never numbers, a string
is never a list of strings, and unknown keys are refused with the valid ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ftrun.errors import FtrunError

Check = Callable[[object, str], object]


def _found(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list ({value!r})" if len(repr(value)) < 60 else "a list"
    return repr(value)


def join(where: str, key: str) -> str:
    """`FILE: clusters.a100.cpus`: the file, then the dotted key path."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def fail(where: str, expected: str, value: object, todo: str = "") -> FtrunError:
    return FtrunError(f"{where}: expected {expected}, found {_found(value)}" + (f"; {todo}" if todo else ""))


def string(value, where):
    if not isinstance(value, str) or not value:
        raise fail(where, "a non-empty string", value, 'quote it, e.g. key = "value"')
    return value


def number(minimum: float = 0.0, strict: bool = True, integer: bool = False) -> Check:
    """An int (or a float unless `integer`) above `minimum` (at least it, unless `strict`), finite."""
    kind = "an integer" if integer else "a number"
    bound = f"{'>' if strict else '>='} {minimum:g}"

    def check(value, where):
        types = (int,) if integer else (int, float)
        ok = isinstance(value, types) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (value <= minimum if strict else value < minimum):
            raise fail(where, f"{kind} {bound}", value, "write a plain number, without quotes")
        return value

    return check


def choice(valid) -> Check:
    def check(value, where):
        if value not in list(valid):
            raise fail(where, f"one of {', '.join(map(repr, valid))}", value)
        return value

    return check


def list_of(item: Check, what: str, non_empty: bool = False) -> Check:
    def check(value, where):
        if isinstance(value, str):
            raise fail(where, f"a list of {what}", value, f'write it as a list: [{value!r}]'.replace("'", '"'))
        if not isinstance(value, list) or (non_empty and not value):
            raise fail(where, f"a {'non-empty ' if non_empty else ''}list of {what}", value)
        return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))

    return check


def table(keys: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """A TOML table with these keys (each checked), and no others."""

    def check(value, where):
        if not isinstance(value, dict):
            raise fail(where, "a table of settings", value)
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise FtrunError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(keys)}")
        missing = [k for k in required if k not in value]
        if missing:
            raise FtrunError(f"{where}: {', '.join(missing)} missing; add it")
        return {k: keys[k](v, join(where, k)) for k, v in value.items()}

    return check


def mapping(key: Check, item: Check, what: str) -> Check:
    """A table whose keys (checked by `key`) are the user's names, e.g. time_limits = { tvm = 240 }."""

    def check(value, where):
        if not isinstance(value, dict):
            raise fail(where, f"a table of {what}", value, "e.g. { name = value }")
        return {key(k, where): item(v, join(where, k)) for k, v in value.items()}

    return check


@dataclass(frozen=True)
class Names:
    """A key that must be one of a set of names (known systems, say), with what to do otherwise."""

    kind: str
    valid: Callable[[], tuple[str, ...]]
    hint: str = ""

    def __call__(self, value, where):
        valid = self.valid()
        if value not in valid:
            hint = f"; {self.hint}" if self.hint else ""
            raise FtrunError(f"{where}: unknown {self.kind} {value!r}; valid: {', '.join(valid)}{hint}")
        return value
