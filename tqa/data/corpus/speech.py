"""Offline speech synthesis with eSpeak NG (formant synthesis), through ctypes.

The ``espeakng-loader`` wheel ships ``libespeak-ng.so`` and ``espeak-ng-data``, so no
network and no system package is needed. eSpeak runs in synchronous mode and hands
its 16-bit samples (22050 Hz) to a Python callback; we resample them to the corpus
rate with :func:`scipy.signal.resample_poly`.

The library keeps global state (and clock-seeded noise), so each synthesis loads it
afresh and seeds it: same text + voice -> identical samples (see :class:`ESpeak`).
Synthesis is serialised per process (one lock).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

log = logging.getLogger(__name__)

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / flags (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8 = 1

#: Sentences spoken in the corpus (short enough for ~4 s at the default rate).
TEXTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remember to bring your umbrella, it might rain later today.",
    "We measured the quality of every video with five different scores.",
    "My favourite season is autumn, when the leaves turn red and gold.",
    "Could you tell me the way to the nearest railway station, please?",
    "Good morning everyone, thank you all for joining this meeting today.",
    "She sells sea shells on the sea shore, and the shells are lovely.",
    "Learning a new language takes patience, practice and a little humour.",
    "The weather forecast says it will be sunny and warm this weekend.",
    "Our team finished the project two days earlier than we expected.",
    "A cup of hot tea and a good book make a perfect quiet evening.",
    "Turn left at the bakery, then walk straight for about five minutes.",
    "The library opens at nine and closes just after six in the evening.",
    "I would like a table for two near the window, if that is possible.",
    "Every winter the lake freezes and children come to skate on it.",
    "He forgot his keys again and had to wait outside for an hour.",
    "The museum has a new exhibition about ancient maps and sea routes.",
    "Fresh bread from the market tastes better than anything in a shop.",
    "Please switch off your phones before the concert begins tonight.",
    "The train to the coast was delayed because of a fallen tree.",
    "Our neighbours planted tomatoes, beans and sunflowers this spring.",
    "The old bridge was repaired last year and now looks almost new.",
    "She practised the piano every day and finally played the whole piece.",
    "We watched the sun go down behind the hills from the balcony.",
    "The doctor said I should drink more water and sleep a little longer.",
    "A strong wind blew the leaves across the empty playground.",
    "They opened a small cafe that serves coffee and homemade cake.",
    "The children built a tall sand castle before the tide came in.",
    "Remember to save your work often when you use a new computer.",
    "The mountain path is steep, so wear good shoes and take a map.",
    "My grandmother tells wonderful stories about her years at sea.",
    "The city council decided to plant a thousand new trees downtown.",
    "He painted the kitchen a pale yellow colour over the weekend.",
    "Our flight leaves early tomorrow, so we should pack tonight.",
    "The cat sleeps on the warm windowsill for most of the afternoon.",
    "This recipe needs two eggs, a cup of flour and some butter.",
    "The football match was cancelled because the field was flooded.",
    "She writes letters to her friends instead of sending messages.",
    "The garden looks beautiful after the rain on a summer morning.",
    "We found an old photograph of the house hidden in a drawer.",
    "The bus stops right in front of the school at half past eight.",
    "A gentle breeze came in from the open window of the classroom.",
    "He repairs bicycles in a small workshop behind the station.",
    "The orchestra tuned their instruments while the hall slowly filled.",
    "Please write your name clearly at the top of every page.",
    "The festival brings music, food and dancing to the old square.",
    "They walked along the beach and collected smooth grey stones.",
    "The new bridge will connect the two villages across the valley.",
    "Our teacher asked us to read two chapters before the next lesson.",
    "The lighthouse has guided ships safely into the harbour for years.",
    "We planted apple trees along the fence at the end of the garden.",
    "The shop on the corner sells newspapers, sweets and fresh flowers.",
    "He likes to run in the park early in the morning before work.",
    "The river was so calm that we could see the fish below the boat.",
    "Please leave your coats and umbrellas by the door when you arrive.",
    "The village hall hosts a small market on the first Sunday of the month.",
    "My brother builds model aeroplanes from wood, paper and glue.",
    "The snow fell all night and covered the fields in soft white.",
    "She bought a second hand guitar and started to learn a few songs.",
    "The kettle whistled while we set the table for breakfast.",
    "Our old car makes a strange noise whenever it climbs a hill.",
    "The students presented their results to the whole department.",
    "A family of ducks crossed the road on their way to the pond.",
    "The clock in the tower strikes every hour, even in the night.",
    "He keeps his tools in a wooden box under the kitchen stairs.",
    "The farmers brought their vegetables to the market before dawn.",
    "We listened to the radio while driving through the quiet hills.",
    "The bakery closes early on Saturdays, so we went there first.",
    "Please close the gate behind you so the sheep stay in the field.",
    "The painting shows a busy harbour on a bright spring afternoon.",
    "Our neighbour walks her two dogs around the block every evening.",
    "The hotel room had a small balcony with a view of the sea.",
    "They repaired the roof before the autumn storms could arrive.",
    "The scientist explained her experiment in simple, careful words.",
    "A small boat carried the visitors across the lake to the island.",
    "The children laughed when the clown pulled a rabbit from his hat.",
    "He wrote the shopping list on the back of an old envelope.",
    "The path through the forest is marked with small red signs.",
    "We stayed up late to watch the stars from the top of the hill.",
    "The postman waved as he cycled past the row of quiet houses.",
)

#: eSpeak voice variants used as speakers ("en+<variant>").
VOICES: tuple[str, ...] = ("en+m1", "en+m3", "en+f2", "en+f4", "en+m7", "en+f1")


@dataclass(frozen=True)
class Voice:
    """One eSpeak speaker setting: voice name, words per minute, pitch and range (0-100)."""

    name: str = "en+m1"
    rate_wpm: int = 160
    pitch: int = 50
    pitch_range: int = 50


_SYNTH_CB = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class ESpeak:
    """eSpeak NG through ctypes, made deterministic.

    eSpeak keeps synthesiser state in static variables (and seeds its noise from the
    clock): the same text synthesised twice in one process gives different samples.
    So every :meth:`synth` loads the library afresh (``dlopen``), seeds its random
    generator (``espeak_ng_SetRandSeed``), synthesises, and unloads it (``dlclose``):
    about 15 ms of overhead, and identical samples for identical inputs.
    """

    _instance: ESpeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader  # noqa: PLC0415 - loads a native library, only when speaking

        self.lib_path = espeakng_loader.get_library_path()
        self.data_path = espeakng_loader.get_data_path().encode()
        self.native_rate = 0
        self._chunks: list[np.ndarray] = []
        self._cb = _SYNTH_CB(self._collect)  # keep a reference: ctypes must not free it

    @classmethod
    def get(cls) -> ESpeak:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _collect(self, wav, n, events) -> int:  # noqa: ARG002 - ctypes signature
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def _load(self) -> ctypes.CDLL:
        lib = ctypes.CDLL(self.lib_path)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path, 0)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (data path {self.data_path.decode()})")
        self.native_rate = int(rate)
        lib.espeak_SetSynthCallback(self._cb)
        lib.espeak_ng_SetRandSeed(0)
        return lib

    def synth(self, text: str, voice: Voice) -> np.ndarray:
        """int16 samples (S,) at ``native_rate`` Hz for ``text`` spoken by ``voice``."""
        import _ctypes  # noqa: PLC0415 - private CPython module for dlclose, used only here

        with self._lock:
            lib = self._load()
            try:
                if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                    raise ValueError(f"eSpeak voice {voice.name!r} not found")
                lib.espeak_SetParameter(_PARAM_RATE, int(voice.rate_wpm), 0)
                lib.espeak_SetParameter(_PARAM_PITCH, int(voice.pitch), 0)
                lib.espeak_SetParameter(_PARAM_RANGE, int(voice.pitch_range), 0)
                lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
                self._chunks = []
                buf = text.encode("utf-8") + b"\0"
                lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                lib.espeak_Synchronize()
                lib.espeak_Terminate()
            finally:
                _ctypes.dlclose(lib._handle)
            chunks, self._chunks = self._chunks, []
        if not chunks:
            raise RuntimeError(f"eSpeak produced no audio for {text!r}")
        return np.concatenate(chunks).astype(np.int16)


def synthesize(text: str, voice: Voice, sample_rate: int = 16000) -> np.ndarray:
    """Speech for ``text`` as float32 (S,) in [-1, 1] at ``sample_rate`` Hz.

    Leading/trailing silence that eSpeak adds is kept (it is short); the caller places
    the utterance on the clip timeline.
    """
    eng = ESpeak.get()
    pcm = eng.synth(text, voice).astype(np.float32) / 32768.0
    ratio = Fraction(int(sample_rate), eng.native_rate).limit_denominator(1000)
    audio = resample_poly(pcm, ratio.numerator, ratio.denominator).astype(np.float32)
    peak = float(np.max(np.abs(audio))) or 1.0
    return (audio * (0.8 / peak)).astype(np.float32)
