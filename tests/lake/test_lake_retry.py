"""retry_on_conflict: which errors it retries, how long it waits, when it gives up.

The real conflict is produced in test_lake_concurrency.py; here the policy itself, with the
exact error DuckLake raised there and a recorded (not real) sleep.
"""

from __future__ import annotations

import duckdb
import pytest

from orchestration.lake import is_transaction_conflict, retry_on_conflict

pytestmark = pytest.mark.lake

CONFLICT = duckdb.TransactionException(
    "TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction.\n"
    'Transaction conflict - attempting to insert into table with index "2" - but another '
    "transaction has deleted from it"
)


def _failing(times: int, error: Exception):
    calls = []

    def work() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return work, calls


def test_conflict_is_retried_with_growing_capped_waits():
    work, calls = _failing(5, CONFLICT)
    waits: list[float] = []
    assert retry_on_conflict(work, attempts=6, first_wait=1.0, max_wait=4.0, sleep=waits.append)
    assert len(calls) == 6
    caps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(waits) == 5 and all(0 <= w <= cap for w, cap in zip(waits, caps, strict=True))


def test_gives_up_after_the_last_attempt():
    work, calls = _failing(10, CONFLICT)
    with pytest.raises(duckdb.TransactionException, match="Transaction conflict"):
        retry_on_conflict(work, attempts=3, sleep=lambda _: None)
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error",
    [
        duckdb.CatalogException("Catalog Error: Table with name nope does not exist!"),
        duckdb.TransactionException("TransactionContext Error: cannot commit - no transaction"),
        ValueError("Transaction conflict"),  # not a DuckDB error
    ],
)
def test_other_errors_are_not_retried(error):
    work, calls = _failing(1, error)
    with pytest.raises(type(error)):
        retry_on_conflict(work, sleep=lambda _: pytest.fail("must not wait"))
    assert len(calls) == 1
    assert not is_transaction_conflict(error)
