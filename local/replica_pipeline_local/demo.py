"""``make run``: start the local stack, submit the sample video, watch it become a replica."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from replica_pipeline_local.cli import main as cli
from replica_pipeline_local.stack.lifecycle import (
    DEFAULT_STATE_DIR,
    StackFiles,
    running_stack,
    up,
)

SAMPLE = Path("samples/sample.mp4")


def main() -> int:
    started = time.monotonic()
    files = StackFiles(DEFAULT_STATE_DIR.resolve())
    files.state_dir.mkdir(parents=True, exist_ok=True)
    if up(files, []) != 0:
        return 1
    description = running_stack(files)
    seconds = description.reconcile_every_seconds if description else None
    every = f"every {10 if seconds is None else seconds:g} s"
    if description and description.is_external_tavus:
        print(
            f"\nThis stack calls the Tavus at {description.tavus_url}, not the emulator: "
            "training takes hours there, not seconds. Tavus's callbacks cannot reach this "
            f"laptop, so statuses move when the local reconciler polls Get Replica ({every}). "
            "Ctrl-C stops watching; the stack keeps running, and `.venv/bin/replicas watch` "
            "picks it up again."
        )
    else:
        # Progress moves in steps, one per reconciler run: say why, before anyone wonders.
        print(
            "\nLike Tavus, the emulator calls back only when a training ends: the progress "
            f"below is what the local reconciler reads with Get Replica ({every}), as in AWS."
        )
    print(f"\nSubmitting {SAMPLE} (2 min, 1080p, H.264: a test pattern with a tone, then silence)")
    # Its own stack, named: a REPLICAS_LOCAL_STATE in the user's shell may point elsewhere.
    code = cli.main(
        [
            "--local-state",
            str(files.state_dir),
            "submit",
            str(SAMPLE),
            "--name",
            "Sample replica",
            "--watch",
        ]
    )
    if code != 0:
        print(f"\nThe sample did not complete; see {files.log_file}", file=sys.stderr)
        return code
    print(f"\nDone in {time.monotonic() - started:.0f} s. The stack keeps running; next:")
    print("  .venv/bin/replicas list                        # everything, newest first")
    print(
        "  .venv/bin/replicas submit my-video.mp4 --watch  # your own video (>= 60 s, 1080p, H.264)"
    )
    print("  curl -s $(jq -r .api_url .local/stack.json)/replicas | jq   # the status API")
    print("  aws --endpoint-url $(jq -r .aws_endpoint_url .local/stack.json) \\")
    print("      s3 cp my-video.mp4 s3://$(jq -r .bucket .local/stack.json)/uploads/  # a raw drop")
    print("  make down                                       # stop the local stack")
    return 0


if __name__ == "__main__":
    sys.exit(main())
