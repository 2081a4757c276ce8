"""Feature extraction (chapter 3.1.1, 3.2.2): decode, extractors, cache, pipeline, engines.

Extractors are registered by name in :data:`tqa.features.extractors.base.EXTRACTORS`
(one file each under ``tqa/features/extractors/``).
"""
