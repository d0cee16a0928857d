#!/usr/bin/env python3
"""CDK entry point: ``npx aws-cdk synth`` / ``deploy`` run this (see cdk.json), and so does
``python app.py``, which synthesizes the same template offline (no credentials, no Docker).

cdk-nag's AwsSolutions and Serverless packs check the app during synthesis; any finding
not acknowledged next to its resource fails synthesis and is listed in
``cdk.out/validation-report.json``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

ROOT = Path(__file__).resolve().parent
# The stack imports the table schema and configuration names from the functions package.
sys.path.insert(0, str(ROOT / "functions"))

from infra.account_setup import ACCOUNT_SETUP_STACK_NAME, AccountSetupStack  # noqa: E402
from infra.settings import SettingsError, StackSettings  # noqa: E402
from infra.stack import ReplicaPipelineStack  # noqa: E402


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json, so ``python app.py`` sees what the CDK CLI passes."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def stack_name(settings: StackSettings) -> str:
    return f"ReplicaPipeline-{settings.stage}"


def build_app(*, outdir: str | None = None, context: Mapping[str, Any] | None = None) -> cdk.App:
    """The app: the stage's stack and the one-time account setup (deployed only when named);
    ``context`` overrides cdk.json (as ``-c key=value`` does)."""
    # Context given here ranks below the CLI's, so under `cdk` the CLI's -c values still win.
    app = cdk.App(
        # The CLI names its output directory; `python app.py` writes to ./cdk.out like it.
        outdir=outdir or os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"),
        context={**cdk_json_context(), **(context or {})},
    )
    settings = StackSettings.from_context(app.node.get_all_context())
    # Environment-agnostic: no account or region lookups, so synthesis needs no credentials.
    ReplicaPipelineStack(app, stack_name(settings), settings=settings)
    # API Gateway's CloudWatch Logs role, once per account and region (README, "Deploy").
    AccountSetupStack(app, ACCOUNT_SETUP_STACK_NAME)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


if __name__ == "__main__":
    try:
        app = build_app()
    except SettingsError as error:  # a bad -c value or cdk.json entry: say which, no traceback
        sys.exit(f"replica-pipeline: {error}")
    app.synth()
