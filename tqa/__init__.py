"""tqa — quality assessment of AI-generated talking-face videos.

Five scores in [1, 5] per video (lip_sync, expression, audio_quality, cross_modal,
overall) from four per-frame feature streams plus a lip-sync triple, predicted by a
multimodal multi-task cross-modal Transformer (thesis chapter 3).
"""
from tqa.schema import MODALITIES, TASKS

__version__ = "0.1.0"
__all__ = ["TASKS", "MODALITIES", "__version__", "score"]


def score(paths, model=None, **kwargs):
    """Score videos with a trained bundle; see :func:`tqa.scoring.score`."""
    from tqa.scoring import score as _score

    return _score(paths, model=model, **kwargs)
