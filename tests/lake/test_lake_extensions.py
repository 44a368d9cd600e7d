"""Offline DuckDB extensions: from the pinned wheels, into a project-local dir, signed only.

No PostgreSQL needed here: these run wherever the lake's Python dependencies are installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.lake


def _tampered_copy(source: Path, target: Path) -> Path:
    """``source`` with one byte of its trailing signature flipped: an unsigned extension."""
    data = bytearray(source.read_bytes())
    data[-10] ^= 0xFF
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))
    return target


def test_extensions_install_from_the_wheels_into_the_extension_dir(extension_dir):
    from orchestration import lake

    con = lake.connect(extension_dir)
    try:
        rows = con.execute(
            "SELECT extension_name, loaded, install_path, installed_from FROM duckdb_extensions()"
            " WHERE extension_name IN ('ducklake', 'postgres_scanner') ORDER BY 1"
        ).fetchall()
        settings = con.execute(
            "SELECT current_setting('autoinstall_known_extensions'),"
            " current_setting('autoload_known_extensions'),"
            " current_setting('allow_unsigned_extensions')"
        ).fetchone()
    finally:
        con.close()
    assert [(name, loaded) for name, loaded, _, _ in rows] == [
        ("ducklake", True),
        ("postgres_scanner", True),
    ]
    for name, _, install_path, installed_from in rows:
        assert Path(install_path).is_relative_to(extension_dir)
        assert installed_from == str(lake.wheel_extension_file(name))
    assert settings == (False, False, False)


def test_install_is_idempotent(extension_dir):
    from orchestration import lake

    files = sorted(extension_dir.rglob("*.duckdb_extension"))
    before = {p: p.stat().st_mtime_ns for p in files}
    lake.install_extensions(extension_dir)
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_unsigned_extension_is_refused(extension_dir, tmp_path):
    """A tampered binary is refused at INSTALL, and at LOAD if it sits in the extension dir."""
    import duckdb

    from orchestration import lake

    bad = _tampered_copy(
        lake.wheel_extension_file("ducklake"), tmp_path / "ducklake.duckdb_extension"
    )
    con = duckdb.connect(config=lake.locked_config(tmp_path / "fresh_dir"))
    with pytest.raises(duckdb.IOException, match="doesn't have a valid signature"):
        con.execute(f"INSTALL '{bad}'")
    with pytest.raises(duckdb.IOException, match="signature is either missing or invalid"):
        con.execute(f"LOAD '{bad}'")
    with pytest.raises(duckdb.InvalidInputException, match="allow_unsigned_extensions"):
        con.execute("SET allow_unsigned_extensions = true")
    con.close()

    # Someone swaps the installed file: every later load, explicit or by ATTACH, refuses it.
    swapped_dir = tmp_path / "swapped"
    shutil.copytree(extension_dir, swapped_dir)
    installed = next(swapped_dir.rglob("ducklake.duckdb_extension"))
    _tampered_copy(lake.wheel_extension_file("ducklake"), installed)
    with pytest.raises(duckdb.IOException, match="signature is either missing or invalid"):
        lake.connect(swapped_dir)
    con = duckdb.connect(config=lake.locked_config(swapped_dir))
    with pytest.raises(duckdb.IOException, match="signature is either missing or invalid"):
        con.execute(f"ATTACH 'ducklake:{tmp_path / 'unused.ducklake'}' AS lake")
    con.close()


def test_nothing_is_downloaded(tmp_path):
    """With an empty extension dir, ATTACH 'ducklake:…' fails instead of fetching the extension."""
    import duckdb

    from orchestration import lake

    empty = tmp_path / "empty"
    con = duckdb.connect(config=lake.locked_config(empty))
    with pytest.raises(duckdb.IOException, match='Install it first using "INSTALL ducklake"'):
        con.execute(f"ATTACH 'ducklake:{tmp_path / 'x.ducklake'}' AS lake")
    con.close()
    assert not list(empty.rglob("*.duckdb_extension"))


def _memory_limit(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_lake_connections_have_a_bounded_memory_limit(extension_dir, monkeypatch):
    """DuckDB's default (80 % of the RAM in every process) fails natively under host memory
    pressure (CI: "Allocation failure" with two lake runs at once); a bound makes it spill."""
    import duckdb

    from orchestration import lake

    def as_duckdb_reports(value: str) -> str:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = '{value}'")
            return _memory_limit(con)
        finally:
            con.close()

    monkeypatch.delenv("RUNWAY_LAKE_MEMORY_LIMIT", raising=False)
    con = lake.connect(extension_dir)
    try:
        assert _memory_limit(con) == as_duckdb_reports("4GB")
        default = duckdb.connect()
        assert _memory_limit(con) != _memory_limit(default)  # not DuckDB's (80 % of the RAM)
        default.close()
    finally:
        con.close()
    monkeypatch.setenv("RUNWAY_LAKE_MEMORY_LIMIT", "1500MB")
    con = lake.connect(extension_dir)
    try:
        assert _memory_limit(con) == as_duckdb_reports("1500MB")
    finally:
        con.close()


def test_dbts_lake_profile_has_the_same_memory_limit():
    import yaml

    from orchestration import lake, settings

    profile = yaml.safe_load((settings.REPO_ROOT / "dbt_project" / "profiles.yml").read_text())
    options = profile["runway"]["outputs"]["lake"]["config_options"]
    assert options["memory_limit"] == (
        f"{{{{ env_var('RUNWAY_LAKE_MEMORY_LIMIT', '{lake.DEFAULT_MEMORY_LIMIT}') }}}}"
    )
    assert lake.locked_config()["memory_limit"] == lake.memory_limit()
