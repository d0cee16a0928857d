"""Where the CLI finds the files that describe a stack, so it works outside the repository.

Two files: the local stack's ``stack.json`` (written by ``make up``) and the outputs
file that ``cdk deploy --outputs-file`` writes for deployed stacks. Each is looked for,
in this order: a command-line option, an environment variable, then the current
directory and its parents (as git finds ``.git``), so any folder of the repository works.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from replica_pipeline_local.stack_description import FILE_NAME as STACK_JSON

# Environment variables a user sets once in a shell profile instead of repeating options.
LOCAL_STATE_ENV = "REPLICAS_LOCAL_STATE"
OUTPUTS_FILE_ENV = "REPLICAS_OUTPUTS_FILE"
LOCAL_STATE_OPTION = "--local-state"
OUTPUTS_FILE_OPTION = "--outputs-file"

# What `make up` writes in the repository, and what the README's deploy writes there.
LOCAL_STATE_DIR_NAME = ".local"
OUTPUTS_FILE_NAME = "cdk-outputs.json"


class StackFileError(Exception):
    """A stack's description is missing or unreadable; the message says where we looked."""


@dataclass(frozen=True)
class Found:
    """A file and how it was found (said in errors, so a user knows which setting to fix)."""

    path: Path
    source: str
    # Named by the user (option or environment), rather than picked up from a folder.
    explicit: bool = True


def find_local_stack_json(
    option: Path | None, environ: Mapping[str, str], cwd: Path
) -> Found | None:
    """The local stack's ``stack.json``: option, then environment, then ``.local/`` in
    ``cwd`` or a parent. ``None`` when none of them names or holds one.

    An option or variable that names a folder without ``stack.json`` is an error, not a
    reason to look further: the user asked for that stack.
    """
    for value, source in (
        (option, LOCAL_STATE_OPTION),
        (_env_path(environ, LOCAL_STATE_ENV), f"${LOCAL_STATE_ENV}"),
    ):
        if value is not None:
            # A folder (the state dir) or the stack.json in it: both are natural to pass.
            path = value if value.suffix == ".json" else value / STACK_JSON
            if not path.is_file():
                raise StackFileError(
                    f"no local stack in {value} ({source}): {path} does not exist; "
                    "is the local stack running? (make up)"
                )
            return Found(path, source)
    found = _nearest(cwd, Path(LOCAL_STATE_DIR_NAME) / STACK_JSON)
    return Found(found, f"found from {cwd}", explicit=False) if found else None


def local_stack_not_found(cwd: Path) -> str:
    """Every place a local stack is looked for, for the error that says none was found."""
    return (
        f"no local stack found: pass {LOCAL_STATE_OPTION} DIR, set {LOCAL_STATE_ENV}=DIR, "
        f"or run from a folder whose {LOCAL_STATE_DIR_NAME}/{STACK_JSON} exists "
        f"(none in {cwd} or its parents); `make up` in the repository starts one"
    )


def find_outputs_file(option: Path | None, environ: Mapping[str, str], cwd: Path) -> Found | None:
    """CDK's outputs file: option, then environment, then ``cdk-outputs.json`` in ``cwd``
    or a parent. A named file that does not exist is an error."""
    for value, source in (
        (option, OUTPUTS_FILE_OPTION),
        (_env_path(environ, OUTPUTS_FILE_ENV), f"${OUTPUTS_FILE_ENV}"),
    ):
        if value is not None:
            if not value.is_file():
                raise StackFileError(f"no outputs file at {value} ({source})")
            return Found(value, source)
    found = _nearest(cwd, Path(OUTPUTS_FILE_NAME))
    return Found(found, f"found from {cwd}", explicit=False) if found else None


def read_json_object(found: Found) -> dict[str, object]:
    """The file's JSON object, or an error naming the file and how it was found."""
    try:
        data = json.loads(found.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StackFileError(f"cannot read {found.path} ({found.source}): {error}") from None
    if not isinstance(data, dict):
        raise StackFileError(f"{found.path} ({found.source}) is not a JSON object")
    return data


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(name, "").strip()
    # An empty variable is unset, as shells treat `VAR= command`.
    return Path(value).expanduser() if value else None


def _nearest(cwd: Path, relative: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        candidate = folder / relative
        if candidate.is_file():
            return candidate
    return None
