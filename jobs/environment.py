"""The environment variables ftrun reads, owned here: nothing else reads them. Every ftrun command checks
them first (`ftrun.boundary.check_environment`), so a bad value is one clear line before anything runs,
never a failure deep inside a job.

    FTRUN_AUTOTUNE_CACHE  folder of the compiler's autotuning cache  (default ~/.cache/ftrun/autotune)
    FTRUN_AUTOTUNE_SPACE  default or wide: the configs the autotuner tries
    FTRUN_TVM_CACHE       folder of prebuilt TVM modules (jobs/systems/tvm_prebuild.py)
    FTRUN_TVM_TRIALS      MetaSchedule trials per TVM module, 0 or more (default 0: DLight's schedules)
    FTRUN_CODE_COMMIT     the commit the code is, for a copy of a work tree whose .git may not match
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SPACES = ("default", "wide")


class BadEnvironment(ValueError):
    """An environment variable ftrun reads has a value it cannot use."""


@dataclass(frozen=True)
class Environment:
    autotune_cache: Path = Path.home() / ".cache" / "ftrun" / "autotune"
    autotune_space: str = "default"
    tvm_cache: Path | None = None
    tvm_trials: int = 0
    code_commit: str | None = None

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        space = get("FTRUN_AUTOTUNE_SPACE") or "default"
        if space not in SPACES:
            raise BadEnvironment(f"FTRUN_AUTOTUNE_SPACE={space!r}: give one of {', '.join(SPACES)}")
        trials = get("FTRUN_TVM_TRIALS") or "0"
        if not re.fullmatch(r"\d+", trials.strip()):
            raise BadEnvironment(f"FTRUN_TVM_TRIALS={trials!r}: give a whole number of trials, 0 or more")
        commit = get("FTRUN_CODE_COMMIT")
        if commit is not None and not re.fullmatch(r"[0-9a-fA-F]{4,64}", commit):
            raise BadEnvironment(f"FTRUN_CODE_COMMIT={commit!r}: give a git commit (hex digits)")
        paths = {}
        for name in ("FTRUN_AUTOTUNE_CACHE", "FTRUN_TVM_CACHE"):
            value = get(name)
            if value is not None and Path(value).exists() and not Path(value).is_dir():
                raise BadEnvironment(f"{name}={value}: names a file; give a folder")
            paths[name] = Path(value).expanduser() if value is not None else None
        return cls(autotune_cache=paths["FTRUN_AUTOTUNE_CACHE"] or cls.autotune_cache, autotune_space=space,
                   tvm_cache=paths["FTRUN_TVM_CACHE"], tvm_trials=int(trials), code_commit=commit)


def environment() -> Environment:
    """The variables as this process has them now."""
    return Environment.read()
