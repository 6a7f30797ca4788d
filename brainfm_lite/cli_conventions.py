"""What every `brainfm` command does on its way out: its exit code, and one line on stderr when it fails.

Exit codes (the same for every subcommand, and for ``data_scripts/*.py``):

    0    success
    1    runtime error: a download, checksum, build or file-system failure, or a chapter that failed
    2    usage error: a bad option or value (argparse), or an input that cannot be used as given (`InputError`)
    130  interrupted (Ctrl-C; 128 + SIGINT, as shells report it)

An expected error is one line, ``brainfm <command>: <what is wrong>``, without a traceback; an unexpected exception
(a bug) keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from brainfm_lite.errors import BrainFMError, InputError

EXIT_OK = 0
EXIT_RUNTIME_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The epilog of every `--help` (the parsers format it as written).
EXIT_CODES_HELP = """exit codes:
  0    success
  1    runtime error: a download, checksum, book build or file-system failure, a failed chapter
  2    usage error: a bad option or value, profile or input file
  130  interrupted (Ctrl-C)
An error is one line on stderr: "brainfm <command>: <what is wrong>"."""


def one_line(text: object) -> str:
    """`text` on one line: its non-blank lines, stripped, joined by spaces (messages such as a dataset's
    instructions span lines; the terminal wraps one long line, and a caller grepping stderr sees one)."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def exit_code(error: BaseException) -> int:
    """The exit code of a command that failed with `error`: 2 for input it cannot use, 130 for Ctrl-C, else 1."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_USAGE if isinstance(error, InputError) else EXIT_RUNTIME_ERROR


class OneLineErrorParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose usage errors are one line on stderr and exit 2.

    argparse's own `error` prints the whole usage block before the message; the usage is one ``--help`` away, so
    the line says so instead. Subparsers made by `add_subparsers().add_parser` are of this class too.
    """

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


def run_command(prog: str, command: Callable[[], int], *, interrupted_hint: str = "") -> int:
    """Run `command` and turn an expected failure into its exit code and one line on stderr.

    Args:
        prog: the command as the user typed it, e.g. "brainfm pretrain"; every error line starts with it.
        command: the work; returns the exit code of a run that did not raise (0, or 1 when part of it failed).
        interrupted_hint: said after "interrupted", e.g. "; run the same command again to resume".

    Returns:
        `command`'s own code; 2 for an `InputError`; 1 for any other `BrainFMError` or an `OSError` (the file system
        refused: permissions, a full disk ...); 130 for Ctrl-C. Other exceptions propagate with their traceback.
    """
    try:
        return command()
    except KeyboardInterrupt as interrupt:
        print(f"{prog}: interrupted{interrupted_hint}", file=sys.stderr)
        return exit_code(interrupt)
    except (BrainFMError, OSError) as error:
        print(f"{prog}: {one_line(error) or type(error).__name__}", file=sys.stderr)
        return exit_code(error)
