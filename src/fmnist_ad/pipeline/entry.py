"""How every stage script runs its work: known bad input ends with one message and exit code 2."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from fmnist_ad.allocator import keep_freed_memory
from fmnist_ad.errors import USER_ERRORS


def main(fn: Callable[[], None]) -> None:
    """Run a stage; known bad input ends with a one-paragraph message and exit code 2."""
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        fn()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
