"""TokenBudget: checked before a call, charged after, exact under concurrency."""

from __future__ import annotations

import threading

import pytest

from agents.budget import BudgetExceeded, TokenBudget, Usage


def test_usage_add_returns_the_sum_without_mutating() -> None:
    a = Usage(model_calls=1, input_chars=10, output_chars=3, input_tokens=7, output_tokens=2)
    b = Usage(model_calls=2, input_chars=1, output_chars=1, input_tokens=5, output_tokens=9)
    total = a.add(b)
    assert total == Usage(model_calls=3, input_chars=11, output_chars=4, input_tokens=12, output_tokens=11)
    assert a.model_calls == 1 and b.model_calls == 2


def test_usage_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        Usage(input_tokens=-1)


def test_check_passes_under_the_limit_and_raises_once_reached() -> None:
    budget = TokenBudget(max_input_tokens=100, max_output_tokens=50)
    budget.check()
    budget.charge(Usage(model_calls=1, input_tokens=99, output_tokens=10))
    budget.check()  # 99 < 100: one more call is allowed
    budget.charge(Usage(model_calls=1, input_tokens=1, output_tokens=10))
    with pytest.raises(BudgetExceeded) as info:
        budget.check()
    assert info.value.kind == "input" and info.value.used == 100 and info.value.limit == 100
    assert "100 input tokens used of 100" in str(info.value)


def test_output_limit_is_checked_too() -> None:
    budget = TokenBudget(max_output_tokens=5)
    budget.charge(Usage(output_tokens=6, input_tokens=10_000))
    with pytest.raises(BudgetExceeded) as info:
        budget.check()
    assert info.value.kind == "output"


def test_unlimited_budget_never_raises_and_reports_remaining() -> None:
    budget = TokenBudget()
    budget.charge(Usage(input_tokens=10**9, output_tokens=10**9))
    budget.check()
    assert budget.remaining() == (None, None)
    limited = TokenBudget(max_input_tokens=10, max_output_tokens=10)
    limited.charge(Usage(input_tokens=4, output_tokens=20))
    assert limited.remaining() == (6, 0)


def test_spent_seeds_a_resumed_run() -> None:
    earlier = Usage(model_calls=3, input_tokens=90, output_tokens=5)
    budget = TokenBudget(max_input_tokens=100, spent=earlier)
    assert budget.usage == earlier
    budget.charge(Usage(model_calls=1, input_tokens=10))
    with pytest.raises(BudgetExceeded):
        budget.check()
    assert earlier.input_tokens == 90  # the seed is copied, not aliased


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_output_tokens"):
        TokenBudget(max_output_tokens=-1)


def test_concurrent_charges_are_all_counted() -> None:
    budget = TokenBudget()
    per_thread, threads = 400, 8

    def work() -> None:
        for _ in range(per_thread):
            budget.charge(Usage(model_calls=1, input_chars=2, output_chars=3, input_tokens=5, output_tokens=7))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    n = per_thread * threads
    assert budget.usage == Usage(
        model_calls=n, input_chars=2 * n, output_chars=3 * n, input_tokens=5 * n, output_tokens=7 * n
    )


def test_usage_snapshot_is_a_copy() -> None:
    budget = TokenBudget()
    snapshot = budget.usage
    budget.charge(Usage(model_calls=1))
    assert snapshot.model_calls == 0
    assert budget.usage.model_calls == 1


def test_copies_share_the_budget_and_pickles_carry_a_snapshot() -> None:
    import copy
    import pickle

    budget = TokenBudget(max_input_tokens=10, max_output_tokens=20)
    budget.charge(Usage(model_calls=1, input_tokens=4))
    assert copy.deepcopy(budget) is budget and copy.copy(budget) is budget
    clone = pickle.loads(pickle.dumps(budget))
    assert clone is not budget
    assert (clone.max_input_tokens, clone.max_output_tokens, clone.usage) == (10, 20, budget.usage)
    clone.charge(Usage(input_tokens=1))
    assert budget.usage.input_tokens == 4
