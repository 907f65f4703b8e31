"""What the checks find: :class:`Finding` values, gathered in a :class:`Report`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..config import Collected, RedtrustConfig

__all__ = ["Finding", "Names", "Report", "Status", "settings_findings"]

Status = Literal["ok", "warn", "fail", "skip"]
#: How the front-end names a setting in its advice, by field name (``REDTRUST_TIMEOUT``).
Names = Callable[[str], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One result: which check, how it went, the cause and the fix."""

    check: str
    status: Status
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """Every finding of one run, in order."""

    findings: tuple[Finding, ...]

    @property
    def failed(self) -> bool:
        """True when any check failed."""
        return any(f.status == "fail" for f in self.findings)

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0 (warnings do not fail a deployment)."""
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        """The report as text: ``ok   check: message`` and a ``fix:`` line under each."""
        out: list[str] = []
        for finding in self.findings:
            out.append(f"{finding.status:<4} {finding.check}: {finding.message}")
            if finding.fix:
                out.append(f"     fix: {finding.fix}")
        failed = sum(f.status == "fail" for f in self.findings)
        warned = sum(f.status == "warn" for f in self.findings)
        out.append(
            f"{failed} failed, {warned} warning(s)" if failed or warned else "everything is ok"
        )
        return out


def settings_findings(collected: Collected[RedtrustConfig]) -> list[Finding]:
    """The settings' findings: each problem names its setting, the cause and the fix."""
    findings = [
        Finding(check="settings", status="fail", message=f"{p.name} {p.problem}", fix=p.fix)
        for p in collected.problems
    ]
    if not findings:
        findings.append(Finding(check="settings", status="ok", message="every setting is valid"))
    findings += [Finding(check="settings", status="warn", message=w) for w in collected.warnings]
    return findings
