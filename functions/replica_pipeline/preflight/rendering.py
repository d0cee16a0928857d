"""The check's report as a person reads it: a heading per file, one line per finding."""

from __future__ import annotations

from replica_pipeline.preflight.report import Finding, VideoReport


def render_text(reports: list[VideoReport]) -> str:
    """Human output: a heading per file, one line per finding, then a summary line."""
    lines: list[str] = []
    for report in reports:
        lines.append(f"{report.path} ({report.role})")
        for f in report.findings:
            lines.append(f"  {f.verdict.upper():<4}  {f.check:<17}  {f.value:<40}  {_said(f)}")
        if report.fix:
            lines.append(f"  fix: {report.fix}  ({_fix_scope(report)})")
    failures = sum(len(report.failures) for report in reports)
    warnings = sum(f.verdict == "warn" for report in reports for f in report.findings)
    files = "1 file" if len(reports) == 1 else f"{len(reports)} files"
    if failures:
        lines.append(
            f"{files} checked: {_plural(failures, 'failure')}, {_plural(warnings, 'warning')}"
            " — fix the failures before uploading: Tavus would reject this after hours of training"
        )
    else:
        lines.append(f"{files} checked: ready to upload ({_plural(warnings, 'warning')})")
    return "\n".join(lines)


def _fix_scope(report: VideoReport) -> str:
    """What the fix covers, and what it leaves for a new recording."""
    fixed = ", ".join(dict.fromkeys(f.check for f in report.fixable))
    left = ", ".join(f.check for f in report.failures if not f.fixable)
    return f"fixes {fixed}; {left}: record again" if left else f"fixes {fixed}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _said(finding: Finding) -> str:
    """The detail, and for a problem the Tavus training error it would have become."""
    if finding.verdict == "pass" or finding.prevents is None:
        return finding.detail
    return f"{finding.detail} [Tavus: {finding.prevents}]"
