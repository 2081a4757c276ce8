"""Shared fixtures. ``tiny_corpus``: a small synthetic corpus built once per test session."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

# A suite started in the background of a non-interactive shell (`make test &`, nohup, some CI
# runners) inherits SIGINT ignored, and Python then keeps it ignored: the Ctrl-C tests would
# test the launcher, not tqa. Restore the interactive default for the test process and (exec
# resets a caught signal to SIG_DFL) for every command the tests start.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: Videos in the tiny corpus: over all 6 simulated generators, one of them off-format.
TINY_N = 8


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Path of a tiny corpus folder (labels.csv, degradations.csv, videos/), built once.

    8 videos at the default format (150 frames, 25 fps, corpus.size px), every generator,
    including one off-format clip (other fps / length / resolution). About 3-5 s to build.
    """
    from tqa.core.params import load_params
    from tqa.data.corpus.build import build_corpus

    params = load_params()
    cfg = dict(params["corpus"])
    cfg["workers"] = 1
    cfg["off_format_fraction"] = max(float(cfg.get("off_format_fraction") or 0.0), 1.0 / TINY_N)
    out = tmp_path_factory.mktemp("tiny_corpus")
    build_corpus(out, cfg, int(params["seed"]), n=TINY_N, progress=False)
    return out


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny tensors: one torch thread is faster and steadier on a shared 2-core machine.

    Opt in per module with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``.
    """
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture
def resnet101_in_torch_home(tmp_path, monkeypatch):
    """A seeded ResNet101 (eval mode) whose weights are saved where the resnet101 extractor
    looks for them: ``TORCH_HOME`` set to ``tmp_path``, the file
    ``hub/checkpoints/resnet101-cd907fc2.pth`` in it."""
    import torch

    from tqa.features.nets import ResNet101

    torch.manual_seed(3)
    net = ResNet101().eval()
    ck = tmp_path / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    torch.save(net.state_dict(), ck / "resnet101-cd907fc2.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return net


@pytest.fixture(autouse=True)
def _study_fits_in_process(monkeypatch):
    """Studies fit in the test process: spawning workers (~3 s each) dwarfs a tiny fit, and
    ``runtime.train.parallel_fits`` of params.yaml would otherwise apply.
    tests/test_parallel_fits.py opts back in."""
    from tqa.study import crossval

    monkeypatch.setattr(crossval, "worker_count", lambda params: 1)
