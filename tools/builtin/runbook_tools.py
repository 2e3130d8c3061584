"""list_runbooks and get_runbook: the runbook library as tools, so an agent can pick the next SOP."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runbooks import catalog
from tools.builtin.common import Args, Result
from tools.context import ToolContext
from tools.registry import ToolError, tool


class ListArgs(Args):
    pass


class ListResult(Result):
    runbooks: list[dict[str, Any]]
    count: int


@tool("list_runbooks", summary="The runbooks available, with id, title, severity and triggers", args=ListArgs,
      result=ListResult)
def list_runbooks(ctx: ToolContext, args: ListArgs) -> ListResult:
    dirs = [catalog.library_dir(), *ctx.runbook_paths]
    rows = []
    for entry in catalog.list_runbooks(dirs):
        row = entry.model_dump()
        if entry.error is None:
            row["triggers"] = catalog.load_runbook(entry.path).triggers
        rows.append(row)
    return ListResult(runbooks=rows, count=len(rows))


class GetArgs(Args):
    sopName: str = Field(..., description="runbook id (D3) or file name (runbooks/D3-conntrack-exhaustion.md)")


class GetResult(Result):
    id: str
    title: str
    path: str
    content: str


@tool("get_runbook", summary="One runbook's markdown by id or name", args=GetArgs, result=GetResult)
def get_runbook(ctx: ToolContext, args: GetArgs) -> GetResult:
    dirs = [catalog.library_dir(), *ctx.runbook_paths]
    name = args.sopName.removeprefix("runbooks/")
    try:
        path = catalog.find(name, dirs)
        rb = catalog.load_runbook(path)
    except Exception as exc:
        raise ToolError(str(exc), hint="see list_runbooks", code="not_found") from exc
    text = path.read_text(encoding="utf-8", errors="replace")
    return GetResult(id=rb.id, title=rb.title, path=str(path), content=text[:40_000])
