"""``replicas completion SHELL``: the shell's completion script, generated from the parser.

shtab writes the script from the argparse parser itself, so completion never falls
behind the commands and options. It is imported only here: no other command pays for it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# The shells shtab writes scripts for (shtab.SUPPORTED_SHELLS), listed here so that
# building the parser does not import shtab.
SHELLS = ("bash", "zsh", "tcsh")


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell``: paths complete as files or folders."""
    import shtab

    _mark_paths(parser, file=shtab.FILE, directory=shtab.DIRECTORY)
    # `shell` names the script's dialect; nothing is run.
    script: str = shtab.complete(parser, shell=shell)  # nosec B604
    return script


def _mark_paths(parser: argparse.ArgumentParser, *, file: object, directory: object) -> None:
    """Tell shtab which arguments are paths (it reads a ``complete`` attribute on each)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _mark_paths(subparser, file=file, directory=directory)
        elif action.type is Path:
            kind = directory if action.metavar == "DIR" else file
            setattr(action, "complete", kind)  # noqa: B010 (argparse's Action has no such field)
