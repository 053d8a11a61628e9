"""One error style for every stage script and for ``tps-ensembles``.

An *expected* problem (a bad input file, a bad configuration value, missing weights or
HMMs, an incompatible model bundle) is raised as a :class:`UserInputError` (or one of its
subclasses in the other modules). The stage scripts and the command line report it as one
line, ``error: <what>; <where>; <fix>``, on stderr (which the Snakemake rules redirect into
the rule's log) and exit with status 2, without a traceback. ``TPS_DEBUG=1`` or ``--debug``
brings the traceback back. Anything else is a bug and keeps Python's full traceback.

A ``FileNotFoundError`` for a path given on the command line is also expected: it is
reported the same way.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable, Sequence

EXIT_USER_ERROR = 2
DEBUG_FLAG = "--debug"
DEBUG_ENV = "TPS_DEBUG"


class UserInputError(Exception):
    """A problem the user can fix: what is wrong, where, and how to fix it.

    ``where`` names the file, row or configuration key; ``fix`` says what to do. Both are
    optional (the message often names the file already); subclasses may set a class-level
    ``fix`` used when none is given.
    """

    fix: str = ""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = str(message)
        self.where = where
        if fix is not None:
            self.fix = fix

    def one_line(self) -> str:
        return one_line(self.message, self.where, self.fix)


class ConfigError(UserInputError, ValueError):
    """A configuration value the stage cannot use."""

    fix = "correct the value in your config file (see config/config.yaml for the options)"


class InputDataError(UserInputError, ValueError):
    """An input table that lacks what the stage needs (usually written by an earlier stage)."""

    fix = (
        "check the path; if an earlier stage wrote the file, rerun it "
        "(snakemake --forcerun <stage>) so that all inputs come from the same run"
    )


def one_line(what: str, where: str | None = None, fix: str | None = None) -> str:
    parts = [" ".join(str(what).split())]
    parts += [" ".join(str(part).split()) for part in (where, fix) if part]
    return "error: " + "; ".join(parts)


def debug_enabled(argv: Sequence[str] | None = None) -> bool:
    argv = sys.argv if argv is None else argv
    return os.environ.get(DEBUG_ENV, "") not in ("", "0") or DEBUG_FLAG in argv


def strip_debug_flag(argv: list[str]) -> bool:
    """Remove ``--debug`` from ``argv`` in place (argparse of the stage does not know it)."""
    found = DEBUG_FLAG in argv
    while DEBUG_FLAG in argv:
        argv.remove(DEBUG_FLAG)
    if found:
        os.environ[DEBUG_ENV] = "1"  # also for child processes
    return found


def expected_message(error: BaseException, argv: Sequence[str] | None = None) -> str | None:
    """The one-line report for an expected error, or None for a bug (keep the traceback)."""
    if isinstance(error, UserInputError):
        return error.one_line()
    if isinstance(error, FileNotFoundError):
        # open() sets .filename; pyarrow raises FileNotFoundError(path) without it.
        missing = error.filename
        if missing is None and len(error.args) == 1 and isinstance(error.args[0], str):
            missing = error.args[0]
        argv = sys.argv[1:] if argv is None else argv
        given = {os.path.normpath(a.split("=", 1)[-1]) for a in argv if a}
        if missing is not None and os.path.normpath(str(missing)) in given:
            return one_line(
                f"input not found: {missing}",
                None,
                "check the path (relative paths are taken from the working directory "
                f"{os.getcwd()})",
            )
    return None


def report(message: str) -> None:
    """Write the one-line report to the log (stderr under Snakemake) exactly once."""
    log = logging.getLogger("terpene_ensembles")
    if logging.getLogger().handlers or log.handlers:
        log.error("%s", message)
    else:
        print(message, file=sys.stderr, flush=True)


_exit_status: int | None = None


def excepthook(kind, error, tb) -> None:
    """``sys.excepthook`` of the stage scripts (installed by :func:`install`)."""
    global _exit_status
    message = None if debug_enabled() else expected_message(error)
    if message is None:
        sys.__excepthook__(kind, error, tb)
        return
    report(message)
    _exit_status = EXIT_USER_ERROR


def _exit_with_status() -> None:
    # Python exits with 1 after an uncaught exception; an expected error exits with 2.
    # Registered first, so it runs after every other atexit handler.
    if _exit_status is not None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)


def install(argv: list[str] | None = None) -> None:
    """Make a stage script report expected errors in one line (strips ``--debug``)."""
    strip_debug_flag(sys.argv if argv is None else argv)
    if sys.excepthook is not excepthook:
        sys.excepthook = excepthook
        atexit.register(_exit_with_status)


def run_main(main: Callable[[], int | None], argv: Sequence[str] | None = None) -> int:
    """Call ``main``; turn an expected error into the one-line report and exit status 2."""
    try:
        return int(main() or 0)
    except Exception as error:  # noqa: BLE001 - re-raised unless it is an expected error
        message = None if debug_enabled(argv) else expected_message(error, argv)
        if message is None:
            raise
        report(message)
        return EXIT_USER_ERROR
