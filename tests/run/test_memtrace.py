"""The memory debugging aid (``ANTIBOT_TRACEMALLOC``): what a dump writes."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from antibot.run.memtrace import _Dumper, compare, live_objects


class Holder:
    def __init__(self) -> None:
        self.items = [object() for _ in range(3000)]


def test_live_objects_names_big_containers_and_their_owner() -> None:
    holder = Holder()
    text = live_objects(big=2000)
    assert "list of 3000 held by Holder" in text
    assert text.startswith("gc.collect() freed ")
    del holder


def test_a_dump_writes_objects_and_allocator_statistics(tmp_path: Path) -> None:
    dumper = _Dumper(str(tmp_path / "am"))
    dumper.dump()
    base = tmp_path / f"am.{os.getpid()}.1"
    assert "arenas allocated" in (base.parent / (base.name + ".mallocstats")).read_text()
    assert (base.parent / (base.name + ".objects")).read_text().count("\n") > 10
    assert not (base.parent / (base.name + ".snap")).exists()  # not tracing: no snapshot


def test_compare_lists_the_site_that_grew(tmp_path: Path) -> None:
    tracemalloc.start(1)
    try:
        dumper = _Dumper(str(tmp_path / "am"))
        dumper.dump()
        grown = [bytearray(1000) for _ in range(2000)]  # about 2 MB from this line
        dumper.dump()
    finally:
        tracemalloc.stop()
    pid = os.getpid()
    out = compare(str(tmp_path / f"am.{pid}.1.snap"), str(tmp_path / f"am.{pid}.2.snap"), top=3)
    assert "test_memtrace.py" in out.splitlines()[2] and len(grown) == 2000
