"""Whatever arguments a model or a runbook passes, `call_tool` answers with a structured outcome.

A tool bug would surface as code "internal": that is a failure here too, not only an exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tools.conftest import Bundles
from tools.registry import ToolOutcome, call_tool, registry

TOOLS = sorted(registry())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
# Plausible values for the names tools share, so the draws reach the tools' own code paths.
plausible: dict[str, st.SearchStrategy[Any]] = {
    "instanceId": st.sampled_from(["i-0a00000000000a002", "i-0123456789abcdef0", "i-", "", "I-0A00000000000A002"]),
    "executionId": st.sampled_from(["local-i-0a00000000000a002-000000000000", "local-", "x"]),
    "query": st.sampled_from(["table full", "(a+)+$", "(", "[", "conntrack_allowance_exceeded", "\\", "a{1000}"]),
    "severity": st.sampled_from(["critical", "warning,low", "all", "bogus", ""]),
    "sections": st.sampled_from(["all", "kube_proxy,ena", "dns", "nope", ""]),
    "incident_time": st.sampled_from(["2026-07-30T14:02:11Z", "1785420131", "nonsense", "2026-07-30"]),
    "logKey": st.sampled_from(["kernel/dmesg.current", "../x", "/etc/passwd", "", "sysctls", "x\x00y"]),
    "finding_ids": st.sampled_from(["F-001", "S-001,F-9", "", "F-", ["F-001", "S-999"]]),
    "pivotEvent": st.sampled_from(["conntrack", "", "dns", "x" * 300]),
    "startLine": st.integers(-(2**31), 2**31),
    "pageToken": st.sampled_from(["MA==", "-1", "!!", "9999999999999999999999"]),
}


def args_for(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    params = [p for p in registry()[tool].args_model.model_fields if p != "bundle"]  # no host-path ingests
    names = [*params, "unexpected"]
    return st.lists(st.sampled_from(names), unique=True, max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries(
            {k: st.one_of(plausible[k], json_values) if k in plausible else json_values for k in keys}
        )
    )


@pytest.mark.parametrize("tool", TOOLS)
def test_call_tool_answers_every_argument_dict(bundles: Bundles, tool: str) -> None:
    node = bundles["healthy"]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(args=args_for(tool))
    def check(args: dict[str, Any]) -> None:
        outcome = call_tool(node.ctx(), tool, args)
        assert isinstance(outcome, ToolOutcome)
        assert outcome.code != "internal", f"{tool}({args!r}) hit a tool bug: {outcome.error}"
        if outcome.ok:
            assert isinstance(outcome.result, dict)
        else:
            assert outcome.error and outcome.code

    check()


def test_unknown_tool_and_non_dict_arguments(bundles: Bundles) -> None:
    ctx = bundles["healthy"].ctx()
    unknown = call_tool(ctx, "rm_rf", {})
    assert not unknown.ok and unknown.code == "unknown_tool" and "errors" in (unknown.hint or "")
    assert call_tool(ctx, "errors", None).ok
