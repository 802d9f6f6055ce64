"""Import OptBinning without its harmless solver-import noise.

OptBinning imports CVXPY, which probes every optional solver at import time and logs a
warning when one is installed but broken (here: the HiGHS shared library). Binary-target
binning never uses HiGHS, so that one message is filtered; every other CVXPY log passes.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["binning_process_class", "quiet_optbinning"]


def _drop_solver_probe_noise(record: logging.LogRecord) -> bool:
    return "Encountered unexpected exception importing solver" not in record.getMessage()


def binning_process_class() -> Any:
    """Return ``optbinning.BinningProcess``, importing it quietly on first use."""
    # A filter (not a level) because CVXPY resets its logger's level when it is imported.
    logger = logging.getLogger("__cvxpy__")
    if _drop_solver_probe_noise not in logger.filters:
        logger.addFilter(_drop_solver_probe_noise)
    from optbinning import BinningProcess

    return BinningProcess


@contextlib.contextmanager
def quiet_optbinning() -> Iterator[None]:
    """Silence the one pandas-3 deprecation OptBinning 1.0 triggers while building its
    binning table (``df.loc["Totals"] = ...``); results are unaffected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting an item of incompatible dtype")
        yield
