"""Write tests/data/corpus_checksums.json: digests of a few rebuilt corpus videos.

Run after a deliberate change of the corpus (renderer, defects, params ``corpus``/``seed``):
``python tests/corpus_checksums.py``. tests/test_corpus.py rebuilds the same videos and compares.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

CHECKSUMS = Path(__file__).parent / "data" / "corpus_checksums.json"
#: rows of the default plan: two standard clips and the first off-format one
N_STANDARD = 2


def rebuild(tmp: Path) -> dict:
    """Render and encode the checked rows into ``tmp``; their digests by video id."""
    from tqa.core.params import load_params
    from tqa.data.corpus.build import build_plan

    params = load_params()
    plan = build_plan(params["corpus"], int(params["seed"]))
    rows = [*plan[~plan["off_format"]].head(N_STANDARD).index, plan[plan["off_format"]].index[0]]
    return rebuild_ids(tmp, [str(v) for v in plan.loc[rows, "video_id"]], plan)


def rebuild_ids(tmp: Path, video_ids: list[str], plan: pd.DataFrame | None = None) -> dict:
    """Render and encode the default plan's rows ``video_ids`` into ``tmp``; digests by id.
    ``plan``: the default plan when the caller has built it already (else built here)."""
    from tqa.core.params import load_params
    from tqa.data.corpus.build import build_plan, encode_row
    from tqa.data.corpus.media import content_digests

    params = load_params()
    cfg, seed = params["corpus"], int(params["seed"])
    plan = build_plan(cfg, seed) if plan is None else plan
    out = {}
    for i in plan.index[plan["video_id"].isin(video_ids)]:
        row = plan.loc[i].to_dict()
        path = tmp / f"{row['video_id']}.mp4"
        encode_row(row, cfg, seed, path)
        out[str(row["video_id"])] = content_digests(path)
    return out


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        digests = rebuild(Path(d))
    CHECKSUMS.parent.mkdir(parents=True, exist_ok=True)
    CHECKSUMS.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{CHECKSUMS}: {len(digests)} videos", file=sys.stderr)
