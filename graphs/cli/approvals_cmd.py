"""`sopgraph approvals list | approve | reject | resume`: the human side of the guardrails."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import typer

from graphs.cli.errors import CliError

approvals = typer.Typer(help="List, approve, reject and resume runs waiting for a person.", no_args_is_help=True)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@approvals.command("list")
def list_cmd(all_threads: bool = typer.Option(False, "--all", help="also finished threads")) -> None:
    """Threads waiting for approval, with what each waits for."""
    from rich.console import Console
    from rich.table import Table

    from graphs import runner

    rows = runner.list_threads()
    table = Table("thread", "status", "runbook", "pending action", "rating", "approval id")
    for r in rows:
        if r.status != "waiting_approval" and not all_threads:
            continue
        rb = (r.report or {}).get("runbook", {}).get("id", "")
        if r.pending:
            for p in r.pending:
                table.add_row(r.thread_id, r.status, rb, p.action[:70], p.rating, p.approval_id)
        else:
            table.add_row(r.thread_id, r.status, rb, "", "", "")
    Console().print(table)


def _decide(thread: str, verdict: str, by: str | None, reason: str | None, fmt: str) -> None:
    from graphs import runner
    from graphs.audit import default_audit_path, read_entries
    from graphs.cli.diagnose_cmd import _finish, _progress

    try:
        current = runner.status(thread)
    except runner.RunError as exc:
        raise CliError(exc.message, hint=exc.hint) from exc
    if current.status != "waiting_approval":
        # A second approval of the same decision is not an error: report what was recorded.
        done = [e for e in read_entries(default_audit_path()) if e.get("thread_id") == thread]
        if done and current.status == "done":
            typer.echo(f"thread {thread} already decided: " + "; ".join(f"{e['decision']} by {e['by']}" for e in done),
                       err=True)
            _finish(current, fmt, None)
            return
        raise CliError(f"thread {thread} is not waiting for approval (status: {current.status})")
    decision = {"decision": verdict, "by": _who(by), "reason": reason or "", "at": datetime.now(UTC).isoformat()}
    try:
        outcome = runner.resume(thread, decision=decision, on_event=_progress(False))
    except runner.RunError as exc:
        raise CliError(exc.message, hint=exc.hint) from exc
    _finish(outcome, fmt, None)


@approvals.command("approve")
def approve(thread: str, by: str | None = typer.Option(None, "--by"), reason: str | None = typer.Option(None, "--reason"),
            fmt: str = typer.Option("json", "--format", "-f")) -> None:
    """Approve the action the thread is waiting on, then continue the run."""
    _decide(thread, "approve", by, reason, fmt)


@approvals.command("reject")
def reject(thread: str, by: str | None = typer.Option(None, "--by"), reason: str | None = typer.Option(None, "--reason"),
           fmt: str = typer.Option("json", "--format", "-f")) -> None:
    """Reject the action the thread is waiting on, then continue the run."""
    _decide(thread, "reject", by, reason, fmt)


@approvals.command("resume")
def resume(thread: str, fmt: str = typer.Option("json", "--format", "-f")) -> None:
    """Continue a thread from its last checkpoint (after a crash), or show where it waits."""
    from graphs import runner
    from graphs.cli.diagnose_cmd import _finish, _progress

    try:
        outcome = runner.resume(thread, on_event=_progress(False))
    except runner.RunError as exc:
        raise CliError(exc.message, hint=exc.hint) from exc
    _finish(outcome, fmt, None)


def register(app: typer.Typer) -> None:
    app.add_typer(approvals, name="approvals")
