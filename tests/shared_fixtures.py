"""Session fixtures built once for every pytest-xdist worker, as xdist's documentation shows.

Under `pytest -n N` each worker is a process with a session of its own: a session fixture would
be built N times (`pipeline_base` alone takes minutes). `build_once` builds it in the run's
shared temp root instead (`tmp_path_factory.getbasetemp().parent`: each worker's basetemp is a
folder of it, and it is new for every run), under a `filelock.FileLock`: the first worker that
asks builds it, the others wait for the lock and load the value it recorded beside the folder.
What is built there is shared: its users read it or copy it, never change it.

Without xdist, `build_once` is the plain session fixture: built in the session's temp dir.
"""

from __future__ import annotations

import json
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from filelock import FileLock

T = TypeVar("T")


def xdist_worker(config: pytest.Config) -> str | None:
    """The xdist worker's id ("gw0", ...), or None when the tests run in this process alone."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


def build_once(
    config: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    build: Callable[[Path], T],
    dump: Callable[[T], Any] = str,
    load: Callable[[Any], T] = Path,
) -> T:
    """``build(folder)`` once per run, whatever the number of workers; its value on each.

    ``dump`` makes the value JSON (the default suits a Path), ``load`` makes it again in the
    other workers. A build that fails is not retried by the others: they fail with its error,
    as a failed session fixture fails every test that uses it.
    """
    worker = xdist_worker(config)
    if worker is None:
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent
    folder, record = root / name, root / f"{name}.json"
    with FileLock(root / f"{name}.lock"):
        if record.exists():
            stored = json.loads(record.read_text())
            if "error" in stored:
                raise RuntimeError(
                    f"the shared fixture {name!r} failed on worker {stored['worker']} "
                    f"(its first user there shows the whole error):\n{stored['error']}"
                )
            return load(stored["value"])
        # A worker that died while building it left half a folder (the lock died with it).
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
            value = build(folder)
        except BaseException as error:
            message = "".join(traceback.format_exception_only(type(error), error))
            _write(record, {"worker": worker, "error": message[-4000:]})
            raise
        _write(record, {"worker": worker, "value": dump(value)})
        return value


def _write(record: Path, content: dict) -> None:
    partial = record.with_name(f".{record.name}.tmp")
    partial.write_text(json.dumps(content))
    partial.replace(record)
