"""bench/run_all.py keeps the hand-written reading of the numbers and replaces only its own blocks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_blocks_are_replaced_in_place_or_appended() -> None:
    run_all = _run_all()
    doc = "# Benchmarks\n\n## Stream\n\nReading.\n\n<!-- run_all:stream -->\nold\n<!-- /run_all:stream -->\n\nMore.\n"
    updated = run_all.replace_block(doc, "stream", "Stream", "new numbers")
    assert "old" not in updated and "new numbers" in updated
    assert updated.startswith("# Benchmarks\n\n## Stream\n\nReading.\n") and updated.endswith("More.\n")
    appended = run_all.replace_block(updated, "control", "Control plane (C1)", "p50 1 ms")
    assert appended.endswith("## Control plane (C1)\n\n<!-- run_all:control -->\np50 1 ms\n<!-- /run_all:control -->\n")
    assert run_all.replace_block(appended, "control", "ignored", "p50 2 ms").count("## Control plane (C1)") == 1
