"""Which errors a step's retry policy repeats (orchestration.resources.is_transient_error).

The out-of-memory cases are DuckDB's real messages: the machine refusing memory (an address-space
limit on a child process) is worth another attempt; a query over DuckDB's own memory_limit is not.
"""

import subprocess
import sys

import duckdb
import pytest

from orchestration.resources import is_transient_error

# A sort that needs far more than 200 MB, in a process allowed 200 MB more address space than it
# has once DuckDB is loaded, with memory_limit far above that: malloc itself fails.
_HOST_REFUSES = """
import resource, duckdb
con = duckdb.connect()
con.execute("SET memory_limit = '16GB'; SET threads = 1")
used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + 200 * 2**20, resource.RLIM_INFINITY))
try:
    con.execute(
        "SELECT count(*) FROM (SELECT range::VARCHAR || repeat('x', 25) AS s"
        " FROM range(50000000) ORDER BY s)"
    ).fetchall()
except duckdb.OutOfMemoryException as error:
    print(error)
"""

_OVER_LIMIT = (
    "SELECT count(*) FROM (SELECT range::VARCHAR || repeat('x', 25) AS s"
    " FROM range(5000000) ORDER BY s)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_the_machine_refusing_memory_is_transient() -> None:
    printed = subprocess.run(
        [sys.executable, "-c", _HOST_REFUSES], capture_output=True, text=True, timeout=300
    )
    message = printed.stdout.strip()
    assert message.startswith("Out of Memory Error"), (printed.stdout, printed.stderr[-2000:])
    assert is_transient_error(message)


def test_going_over_duckdbs_memory_limit_is_not_transient() -> None:
    con = duckdb.connect()
    con.execute("SET memory_limit = '20MB'; SET threads = 1; SET temp_directory = ''")
    with pytest.raises(duckdb.OutOfMemoryException) as raised:
        con.execute(_OVER_LIMIT).fetchall()
    assert "Out of Memory Error" in str(raised.value)
    assert not is_transient_error(raised.value)


@pytest.mark.parametrize(
    "message",
    [
        "IO Error: Could not set lock on file warehouse.duckdb",
        "TransactionContext Error: Failed to commit DuckLake transaction: Transaction conflict",
        "Out of Memory Error: Allocation failure",
    ],
)
def test_lock_io_and_commit_conflicts_are_transient(message: str) -> None:
    assert is_transient_error(message)


def test_a_failed_dbt_test_is_not_transient() -> None:
    assert not is_transient_error("Failure in test not_null_flights_flight_id: Got 3 results")
