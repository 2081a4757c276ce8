"""Local engine: :meth:`tqa.features.pipeline.FeatureExtractor.run` (a process pool here).

``workers`` processes (None: ``features.workers``; 0 = all cores). With a remote cache
URL (:mod:`tqa.features.engines.remote_cache`) the videos not yet cached remotely are extracted
into a local staging folder and each finished entry is uploaded; entries finished
before an interruption are still uploaded (``finally``), so no finished work is lost.
"""

from __future__ import annotations

import logging
import tempfile

import pandas as pd

from tqa.features.engines import Job, register_engine, remote_cache
from tqa.features.gpu import make_extractor

log = logging.getLogger(__name__)


@register_engine("local")
def run(job: Job) -> pd.DataFrame:
    """Extract ``job.videos`` [(video_id, path)] on this machine into ``job.cache_dir``.

    ``job.address`` is there for a uniform engine signature and must be None here.
    """
    videos, params, cache_dir, progress = job.videos, job.params, job.cache_dir, job.progress
    if job.address:
        raise ValueError(
            f"the local engine takes no cluster address (got {job.address!r}); use --engine dask"
        )
    workers = job.workers
    if workers is None:
        workers = (params.get("features") or {}).get("workers")
    # GPUOptimizedExtractor when a neural extractor is selected and CUDA is present.
    extractor = make_extractor(params)
    if not remote_cache.is_remote(cache_dir):
        return extractor.run(
            videos, remote_cache.local_dir(cache_dir), workers=workers, progress=progress
        )

    chash = extractor.config_hash
    cached = [(v, p) for v, p in videos if remote_cache.is_cached(cache_dir, v, chash, source=p)]
    done = {v for v, _ in cached}
    todo = [(v, p) for v, p in videos if v not in done]
    log.info(
        "local engine, remote cache %s: %d cached, %d to extract", cache_dir, len(cached), len(todo)
    )
    frames = [pd.DataFrame({"video_id": [v for v, _ in cached], "status": "cached", "reason": ""})]
    with tempfile.TemporaryDirectory(prefix="tqa-staging-") as staging:
        try:
            if todo:
                frames.append(extractor.run(todo, staging, workers=workers, progress=progress))
        finally:
            pushed = remote_cache.push(staging, str(cache_dir), [v for v, _ in todo])
            log.info("uploaded %d cache entries to %s", len(pushed), cache_dir)
            failures = remote_cache.read_failures(staging)
            if len(failures):
                remote_cache.append_failures(str(cache_dir), failures.to_dict("records"))
    table = (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else frames[0]
    )
    order = {v: i for i, (v, _) in enumerate(videos)}
    return table.sort_values("video_id", key=lambda s: s.map(order)).reset_index(drop=True)
