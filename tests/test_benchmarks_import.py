"""Every benchmark script imports: a module split that renames a name the scripts use
fails here, not on the next benchmark run (benchmarks are run by hand and by `make bench`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import their siblings
    monkeypatch.setattr(sys, "argv", [script])
    spec = importlib.util.spec_from_file_location(f"bench_{Path(script).stem}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # module level only: each runs its work under __main__
    assert callable(getattr(module, "main", None)), f"{script} has no main()"


def _thqa_dev_cv(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_thqa_dev_cv", BENCH / "thqa_dev_cv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_thqa_report_describes_the_release_it_read(monkeypatch):
    """The THQA report's title and data line are counted from the imported labels, so a run
    on a release with other portraits (the full 20, say) does not call itself portraits 1-10."""
    import pandas as pd

    describe = _thqa_dev_cv(monkeypatch).describe
    ten = pd.DataFrame(
        {
            "group": [g for g in range(1, 11) for _ in range(40)],
            "audio": [f"p{i // 40}a{i % 5}" for i in range(400)],  # own audios per portrait
            "generator": [f"g{i % 8}" for i in range(400)],
        }
    )
    d = describe(ten)
    assert d["title"] == "portraits 1-10" and d["portraits"] == list(range(1, 11))
    assert d["sizes"] == "400 videos = 10 portraits x 5 audios x 8 generators"
    twenty = pd.concat([ten, ten.assign(group=ten["group"] + 10)], ignore_index=True)
    assert describe(twenty)["title"] == "portraits 1-20"
    assert describe(twenty)["sizes"].startswith("800 videos = 20 portraits")
    gaps = ten[ten["group"].isin([2, 11 - 1, 3])]
    assert describe(gaps)["title"] == "portraits 2, 3, 10"
