"""The feature configuration: which extractors ``params["features"]`` selects, and its cache key.

The cache key (:func:`hash_config`) is what makes a cache file current: a change of any
extractor's description (name, version, options), of a hashed ``features`` param, of the
decoding policy or of the cache layout gives another key, so old files are re-extracted.
:func:`config_hash_from_params` gives the key without loading any network.
"""

from __future__ import annotations

from typing import Any

from tqa.core.params import params_hash, runtime_keys
from tqa.features import cache as fcache
from tqa.features.decode import DECODE_VERSION
from tqa.features.extractors.base import (
    RUN_ORDER,
    Extractor,
    available,
    get_extractor,
    random_init_allowed,
)

#: ``features`` keys that say where outputs go, not what they hold (not hashed); the machine
#: knobs (workers, device, ...) are ``runtime_keys("features")``, the params' runtime section.
LOCATION_KEYS = frozenset({"cache_dir", "summary_path"})


def features_section(params: dict) -> dict:
    """``params["features"]``, with a clear error when the whole params dict was not passed."""
    if "features" not in params:
        raise KeyError("params has no 'features' section (pass the whole params.yaml dict)")
    return params["features"]


def build_extractors(fparams: dict) -> dict[str, Extractor]:
    """One extractor per modality, in RUN_ORDER, from the ``features`` params (by name)."""
    extractors: dict[str, Extractor] = {}
    for modality in RUN_ORDER:
        name = fparams.get(modality)
        if not name:
            raise KeyError(
                f"params features.{modality} is not set (choose from {available(modality)})"
            )
        extractors[modality] = get_extractor(modality, str(name), fparams)
    return extractors


def hash_config(fparams: dict, descriptions: dict[str, dict[str, Any]]) -> str:
    """The cache key: features params (runtime keys left out) + extractor descriptions +
    the decoding policy's version (a decoder change must not hand back old features) + the
    cache file layout's version (:data:`tqa.features.cache.CACHE_FORMAT`)."""
    skip = LOCATION_KEYS | runtime_keys("features")
    cfg = {k: v for k, v in fparams.items() if k not in skip}
    return params_hash(
        {
            "features": cfg,
            "extractors": descriptions,
            "decode_version": DECODE_VERSION,
            "cache_format": fcache.CACHE_FORMAT,
        }
    )


def config_hash_from_params(params: dict) -> str:
    """``FeatureExtractor(params).config_hash`` without requiring neural weights.

    The extractors are instantiated inside :func:`tqa.features.extractors.base.random_init_allowed`
    (a neural extractor only resolves its weights path at construction; networks are built
    lazily, so nothing heavy is loaded). When the weights are found the hash is identical to
    ``FeatureExtractor(params).config_hash``; when they are not, it is the hash a random-init
    extraction with these params would write (``describe()`` says ``random_init: True``), so
    features extracted with real weights elsewhere do not match it.
    """
    fparams = features_section(params)
    with random_init_allowed():
        descriptions = {m: e.describe() for m, e in build_extractors(fparams).items()}
    return hash_config(fparams, descriptions)
