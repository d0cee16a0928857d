"""``replicas submit``: check a video (and its consent video) here, then upload it."""

from __future__ import annotations

import argparse
import mimetypes
import tempfile
from pathlib import Path
from typing import Any

from replica_pipeline.adapters.media_probe import RangedReader, container_rejection
from replica_pipeline.config import ValidationLimits
from replica_pipeline.rules.identity import combined_submission_id, pair_submission_id
from replica_pipeline.rules.keys import (
    META_CALLBACK_TAG,
    META_MODEL_NAME,
    META_REPLICA_NAME,
    combined_key,
    encode_metadata_text,
    pair_keys,
)
from replica_pipeline.rules.training_options import TRAINING_PROPERTIES
from replica_pipeline.rules.validation import ObjectFacts, check_object
from replica_pipeline_local.cli.output import CliError, not_a_file, say
from replica_pipeline_local.cli.recording_commands import preflight, prepare_with_progress
from replica_pipeline_local.cli.status_commands import finish_watch
from replica_pipeline_local.cli.targets import Target


def submit_command(target: Target, args: argparse.Namespace) -> int:
    result = submit(target, args)
    say(
        args,
        result,
        f"submitted {', '.join(result['keys'])}\nsubmission id: {result['submission_id']}",
    )
    if args.watch:
        return finish_watch(target, args, [result["submission_id"]])
    return 0


def check_local_video(path: Path, limits: ValidationLimits) -> str | None:
    """The reason the pipeline would reject this file, found before uploading it."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    facts = ObjectFacts(path.name, path.suffix.lower(), path.stat().st_size, content_type)
    reason = check_object(facts, limits)
    if reason:
        return reason
    with path.open("rb") as handle:

        def fetch(first: int, last: int) -> bytes:
            handle.seek(first)
            return handle.read(last - first + 1)

        reader = RangedReader(facts.size, fetch, budget=limits.probe_max_bytes)
        return container_rejection(reader, path.name, limits)


def submit(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    for path in [args.file] + ([args.consent] if args.consent else []):
        if not path.is_file():
            raise CliError(not_a_file(path))
    limits = ValidationLimits().for_model(args.model)
    if not args.prepare:
        return _submit_files(target, args, args.file, args.consent, limits)
    # --prepare: convert on this machine first and upload the converted copies, which
    # live only as long as the upload (the key's name still comes from the original).
    with tempfile.TemporaryDirectory(prefix="replicas-prepare-") as folder:
        video = _prepare_for_upload(args, args.file, Path(folder) / "training.mp4", limits)
        consent = None
        if args.consent:
            consent_limits = limits.for_consent_video()
            consent = _prepare_for_upload(
                args, args.consent, Path(folder) / "consent.mp4", consent_limits
            )
        return _submit_files(target, args, video, consent, limits)


def _prepare_for_upload(
    args: argparse.Namespace, source: Path, output: Path, limits: ValidationLimits
) -> Path:
    from replica_pipeline_local.cli.prepare import PrepareRefused

    try:
        prepare_with_progress(source, output, limits, quiet=args.json)
    except PrepareRefused as refusal:
        raise CliError(f"{source} cannot be prepared, so nothing was uploaded: {refusal}") from None
    return output


def _submit_files(
    target: Target,
    args: argparse.Namespace,
    video: Path,
    consent: Path | None,
    limits: ValidationLimits,
) -> dict[str, Any]:
    """Check and upload ``video`` (and ``consent``): the originals, or their prepared copies."""
    files = [video] + ([consent] if consent else [])
    shown = {str(video): str(args.file), str(consent): str(args.consent)}
    for path in files:
        reason = check_local_video(path, limits if path is video else limits.for_consent_video())
        if reason:
            raise CliError(f"{shown[str(path)]} would be rejected: {reason}")
    if not args.force:
        reports = preflight(video, consent, limits)
        if not all(report.passed for report in reports):
            failures = [
                f"  {shown[report.path]}: {finding.check}: {finding.value} ({finding.detail})"
                for report in reports
                for finding in report.failures
            ]
            fixable = any(report.fix for report in reports)
            raise CliError(
                "the pre-flight check failed, so nothing was uploaded:\n"
                + "\n".join(failures)
                + "\n(`replicas check FILE` shows every finding; "
                + ("--prepare converts the file first; " if fixable else "")
                + "--force uploads anyway)"
            )
    name = (args.key_name or args.file.stem).strip().strip("/")
    metadata = {
        key: encode_metadata_text(value)
        for key, value in (
            (META_REPLICA_NAME, args.name),
            (META_MODEL_NAME, args.model),
            (META_CALLBACK_TAG, args.tag),
        )
        if value
    }
    for option, prop in TRAINING_PROPERTIES.items():
        if getattr(args, prop, None) is not None:
            metadata[option] = "true" if getattr(args, prop) else "false"
    s3 = target.client("s3")
    keys: tuple[str, ...]
    if consent:
        keys = pair_keys(name, video.suffix.lower(), consent.suffix.lower(), target.upload_prefix)
        etags = [
            _upload(s3, target.bucket, key, path, metadata)
            for key, path in zip(keys, files, strict=True)
        ]
        submission_id = pair_submission_id(target.bucket, name, etags[0], etags[1])
    else:
        keys = (combined_key(name, video.suffix.lower(), target.upload_prefix),)
        etag = _upload(s3, target.bucket, keys[0], video, metadata)
        submission_id = combined_submission_id(target.bucket, name, etag)
    return {"submission_id": submission_id, "bucket": target.bucket, "keys": list(keys)}


def _upload(s3: Any, bucket: str, key: str, path: Path, metadata: dict[str, str]) -> str:
    content_type = mimetypes.guess_type(path.name)[0] or "video/mp4"
    s3.upload_file(
        str(path), bucket, key, ExtraArgs={"Metadata": metadata, "ContentType": content_type}
    )
    etag: str = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    return etag.strip('"')
