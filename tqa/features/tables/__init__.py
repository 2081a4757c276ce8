"""Bring-your-own features: feature tables in, a :class:`~tqa.core.schema.FeatureSet` out.

Researchers who already computed features (OpenFace CSVs, their own embeddings, ...)
feed them to the same preprocessing, model, training and evaluation as extracted
features. Two table layouts, CSV or Parquet (chosen by the file suffix):

(a) per-frame LONG table, one row per (video, frame)::

        video_id, frame, visual__*, audio__*, landmarks__*, au__*,
        [sync__offset, sync__distance, sync__confidence]

    ``frame`` is an integer index (0, 1, ..., n-1) or, instead, ``time`` in seconds.
    With ``frame``, a video's n frames are spread evenly over the grid (first frame ->
    grid frame 0, last -> grid frame 149): the clip is normalised to the 6 s grid as the
    chapter normalises every video to 150 frames (section 3.1). With ``time``, values
    are placed at their timestamps: grid frame j sits at j / 25 s; grid times outside a
    video's time range (beyond half a grid step) are NaN, never invented. Both resample
    by linear interpolation over time; a NaN sample makes the interpolated grid frames
    that touch it NaN. Sync columns are per video: constant within a video.

(b) per-VIDEO table, one row per video (no ``frame``/``time`` column), same prefixes:
    per-frame modalities are broadcast over the grid, i.e. CONSTANT in time (the model's
    temporal path then sees no motion for them).

Column prefixes name the modality (``tqa.core.schema.MODALITIES`` plus ``sync``); the part
after ``__`` is free. Any modality may be absent (it is then absent from the FeatureSet
and the model is built without it). Several tables (e.g. a long table for ``au`` and a
per-video table for ``visual``) merge by ``video_id``; a modality may come from one
table only.

Modules: :mod:`~tqa.features.tables.columns` (naming, errors, reading a file),
:mod:`~tqa.features.tables.read` (table -> FeatureSet, resampling, merging, the training
switch), :mod:`~tqa.features.tables.write` (FeatureSet -> table). Every public name is
importable from ``tqa.features.tables``.
"""

from tqa.features.tables.columns import (
    KEY_COLUMNS,
    SEP,
    SYNC_COLUMNS,
    FeatureTableError,
    read_table,
    table_descriptions,
)
from tqa.features.tables.read import (
    feature_set_from_table,
    features_for_training,
    load_feature_table,
    merge_feature_sets,
    resample_rows,
)
from tqa.features.tables.write import feature_table_from_featureset, write_feature_table

__all__ = [
    "KEY_COLUMNS",
    "SEP",
    "SYNC_COLUMNS",
    "FeatureTableError",
    "feature_set_from_table",
    "feature_table_from_featureset",
    "features_for_training",
    "load_feature_table",
    "merge_feature_sets",
    "read_table",
    "resample_rows",
    "table_descriptions",
    "write_feature_table",
]
