"""What a trained-model bundle directory holds: its file names, format version and errors.

A bundle is one directory that scores videos anywhere tqa is installed. Layout (written
atomically by :func:`tqa.serve.bundle_save.save_bundle`: a half-written bundle never
replaces a good one)::

    bundle.json        format version, tqa version, input dims, modalities, extractor
                       names/versions/dims + feature config hash, params snapshot
                       (features / preprocess / model sections), training data
                       description, metrics (when given), strategy, seed,
                       trained_heads (tasks with >= 1 training label; the others
                       score NaN)
    model.pt           state_dict of tqa.model.transformer.CrossModalTransformer
    preprocess.joblib  the fitted tqa.model.preprocess.Preprocessor (imputation/scaling/PCA)
    stack.joblib       (tqa's default model only) the pooled-feature regressors and the
                       per-task blend of the stack (tqa.serve.stack_bundle); bundle.json's
                       ``model`` says which model the bundle holds, ``cv_scores`` what it
                       scored in the k-fold study

A bundle is only valid with the extractors it was trained on:
:meth:`tqa.serve.bundle_load.Bundle.check_extractors` refuses installed extractors whose
name, version or width differ (features from another extractor would be silently
meaningless to the model).
"""

from __future__ import annotations

#: Bump when the bundle layout changes; load_bundle refuses newer formats.
BUNDLE_FORMAT = 1
MANIFEST = "bundle.json"
WEIGHTS = "model.pt"
PREPROCESSOR = "preprocess.joblib"
#: params.yaml sections a bundle snapshots (what is needed to rebuild features + model).
SNAPSHOT_SECTIONS: tuple[str, ...] = ("features", "preprocess", "model")


class BundleError(RuntimeError):
    """A bundle directory that is missing, incomplete or of an unknown format."""


class BundleMismatchError(BundleError):
    """Installed extractors (or a feature table) differ from those the bundle was trained on."""


def inference_model_params(model_params: dict) -> dict:
    """A copy of the model constructor params for inference (no gradient checkpointing)."""
    out = dict(model_params)
    out["grad_checkpointing"] = False  # inference never needs it
    return out
