"""tqa — quality assessment of AI-generated talking-face videos.

Five scores in [1, 5] per video (lip_sync, expression, audio_quality, cross_modal,
overall) from four per-frame feature streams plus a lip-sync triple, predicted by a
multimodal multi-task cross-modal Transformer (thesis chapter 3).
"""

from tqa.core.schema import MODALITIES, TASKS
from tqa.core.version import __version__

__all__ = ["TASKS", "MODALITIES", "__version__", "score"]


def score(paths, model=None, **kwargs):
    """Score videos with a trained bundle; see :func:`tqa.serve.scoring.score`."""
    # imported on first use: ``import tqa`` must stay light (no torch, no model code)
    from tqa.serve.scoring import score as _score  # noqa: PLC0415

    return _score(paths, model=model, **kwargs)
