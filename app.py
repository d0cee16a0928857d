#!/usr/bin/env python3
"""CDK entry point: ``npx aws-cdk synth`` / ``deploy`` run this (see cdk.json)."""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk

# The stack imports the table schema from the functions package.
sys.path.insert(0, str(Path(__file__).resolve().parent / "functions"))

from infra.stack import ReplicaPipelineStack


def build_app() -> cdk.App:
    app = cdk.App()
    stage = app.node.try_get_context("stage") or "dev"
    ReplicaPipelineStack(app, f"ReplicaPipeline-{stage}")
    return app


if __name__ == "__main__":
    build_app().synth()
