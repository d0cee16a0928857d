"""Every cdk-nag acknowledgement answers a real finding, each with its own reason."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

import infra.nag
from app import build_app
from tests.infra.conftest import ALTERNATIVE_CONTEXT, Synthesized

# The two packs' names for one check: one finding, one reason.
SAME_CHECK = {"Serverless-LambdaLatestVersion": "AwsSolutions-L1"}

Acknowledged = tuple[str, str, str]  # construct path, rule id, reason
Finding = tuple[str, str]  # resource path, rule id


@dataclass
class RecordingValidations:
    """Stands in for aws_cdk.Validations inside infra.nag: records, acknowledges nothing."""

    acknowledged: list[Acknowledged] = field(default_factory=list)

    def of(self, construct: Any) -> _Scope:
        return _Scope(self, construct.node.path)


@dataclass
class _Scope:
    recorder: RecordingValidations
    path: str

    def acknowledge(self, *rules: Any) -> None:
        for rule in rules:
            self.recorder.acknowledged.append((self.path, rule.id, rule.reason))


@dataclass(frozen=True)
class Unacknowledged:
    acknowledged: list[Acknowledged]
    findings: set[Finding]


@pytest.fixture(scope="module")
def unacknowledged(synth: Synthesized) -> Unacknowledged:
    """Synthesize with every acknowledgement recorded instead of made, and collect what cdk-nag
    then reports."""
    recorder = RecordingValidations()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infra.nag, "Validations", recorder)
        # Every optional resource on (the alarm email's subscription has its own finding),
        # in the session's output directory, whose bundled asset is reused.
        app = build_app(outdir=str(synth.outdir), context={**ALTERNATIVE_CONTEXT, "stage": "noack"})
        with pytest.raises(RuntimeError, match="ValidationFailed"):
            app.synth()
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    findings = {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
    return Unacknowledged(recorder.acknowledged, findings)


def _covers(acknowledged: Acknowledged, finding: Finding) -> bool:
    path, rule, _ = acknowledged
    finding_path, finding_rule = finding
    return finding_rule == rule and (finding_path == path or finding_path.startswith(f"{path}/"))


def test_every_acknowledgement_matches_a_finding(unacknowledged: Unacknowledged) -> None:
    stale = [
        ack[:2]
        for ack in unacknowledged.acknowledged
        if not any(_covers(ack, finding) for finding in unacknowledged.findings)
    ]
    assert not stale, f"acknowledged without a finding: {stale}"


def test_every_finding_has_an_acknowledgement(unacknowledged: Unacknowledged) -> None:
    uncovered = [
        finding
        for finding in unacknowledged.findings
        if not any(_covers(ack, finding) for ack in unacknowledged.acknowledged)
    ]
    assert not uncovered, f"findings nobody acknowledged: {uncovered}"


def test_each_reason_is_written_for_its_rule_and_says_something(
    unacknowledged: Unacknowledged,
) -> None:
    rules_by_reason: dict[str, set[str]] = defaultdict(set)
    for _, rule, reason in unacknowledged.acknowledged:
        assert len(reason) >= 60, (rule, reason)
        rule_name = rule.split("[")[0]
        rules_by_reason[reason].add(SAME_CHECK.get(rule_name, rule_name))
    copied = {reason: rules for reason, rules in rules_by_reason.items() if len(rules) > 1}
    assert not copied, f"one reason for different rules: {copied}"
