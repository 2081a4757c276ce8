"""The notebooks' one opening call (tqa.study.context) and the prose it renders from the run
(tqa.study.narrative): each expected text below is written out by hand from the inputs, not
built with the functions under test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tqa.core.params import ROOT, load_params
from tqa.study import narrative as N
from tqa.study.context import TOY_PROVENANCE, TOY_VIDEOS, notebook_context
from tqa.study.notebook import NotebookParameterError


def _params(**over) -> dict:
    p = {
        "split": {
            "protocol": "kfold",
            "method": "group",
            "group_column": "speaker",
            "out": "data/split.csv",
        },
        "cv": {"folds": 3, "group_column": "speaker", "val_fraction": 0.2, "seeds": None},
        "train": {"seeds": [1, 2]},
        "eval": {"kfold": {"seeds": [4, 7], "ablations": ["no_au"]}, "ablations": ["no_au"]},
    }
    for key, value in over.items():
        section, name = key.split("__")
        p[section][name] = value
    return p


def _meta(n: int, groups: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"video_id": [f"v{i}" for i in range(n)], "speaker": [f"s{i % groups}" for i in range(n)]}
    )


def test_kfold_protocol_sentence_states_folds_groups_seeds_and_videos() -> None:
    facts = N.run_facts(_params(), kind="kfold", n_videos=12, meta=_meta(12, 4))
    assert facts.folds == 3 and facts.seeds == (4, 7) and facts.n_groups == 4
    assert N.protocol_sentence(facts) == (
        "Grouped k-fold cross-validation: 3 folds by `speaker` x 2 seeds (4, 7), over 12 "
        "videos, 4 groups (`speaker`); every video is scored out of fold, early stopping on a "
        "grouped 20% validation part of the training folds."
    )
    assert N.where_phrase(facts) == "out-of-fold (3-fold by speaker)"


def test_holdout_and_split_sentences_count_the_parts() -> None:
    split = np.array(["test", "train", "train", "val", "train", "test"], dtype=object)
    p = _params(split__protocol="holdout")
    facts = N.run_facts(p, kind="holdout", n_videos=6, split=split, meta=_meta(6, 3))
    assert facts.split_counts == {"train": 3, "val": 1, "test": 2}
    assert facts.seeds == (1, 2)  # train.seeds, not eval.kfold.seeds
    assert N.protocol_sentence(facts) == (
        "One holdout split (`group` split by `speaker` of `data/split.csv`): 6 videos (3 train / "
        "1 val / 2 test), 3 groups (`speaker`), x 2 seeds (1, 2); metrics on the 2 test videos."
    )
    assert N.where_phrase(facts) == "test split (2 videos)"
    one = N.run_facts(p, kind="split", n_videos=1, split=["train"], seeds=[0])
    assert one.n_groups is None  # no metadata: no group count is claimed
    assert N.protocol_sentence(one) == (
        "The `group` split by `speaker` of `data/split.csv`: 1 video (1 train)."
    )


def test_run_markdown_lists_methods_provenance_outputs_and_notes() -> None:
    facts = N.run_facts(_params(), kind="kfold", n_videos=12, meta=_meta(12, 4), seeds=[0])
    text = N.run_markdown(
        facts,
        provenance="Data: x.",
        methods=["tqa:a", "ridge"],
        outputs=[ROOT / "reports" / "06_x", "metrics"],
        notes=["Main: `tqa:a`."],
    )
    assert text == (
        "**This run.** Grouped k-fold cross-validation: 3 folds by `speaker` x 1 seed (0), over "
        "12 videos, 4 groups (`speaker`); every video is scored out of fold, early stopping on "
        "a grouped 20% validation part of the training folds.\n\n"
        "- Methods: `tqa:a`, `ridge`.\n- Data: x.\n- Outputs: `reports/06_x`, `metrics`.\n"
        "- Main: `tqa:a`."
    )


def test_unknown_kind_is_refused_and_plural_counts() -> None:
    with pytest.raises(ValueError, match="run kind"):
        N.RunFacts(kind="crossval", n_videos=1)
    assert [N.plural(1, "fold"), N.plural(2, "identity", "identities")] == [
        "1 fold",
        "2 identities",
    ]


def test_headline_description_follows_the_protocol() -> None:
    kfold = N.headline_description(_params())
    assert "pooled out-of-fold Pearson (3 folds by `speaker` x 2 seeds (4, 7)" in kfold
    holdout = N.headline_description(_params(split__protocol="holdout"))
    assert "test-split Pearson (mean over 2 seeds (1, 2))" in holdout
    assert "out-of-fold" not in holdout


def test_headline_of_the_repository_params_names_its_folds() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    text = N.headline_description(load_params())
    if raw["split"]["protocol"] == "kfold":
        assert f"{raw['cv']['folds']} folds by `{raw['cv']['group_column']}`" in text


# --------------------------------------------------------------------------- notebook_context
def _namespace(**values) -> tuple[dict, set]:
    ns = {"params_path": None, "overrides": {}, "reports_dir": None, "toy_data": False}
    declared = set(ns)
    ns.update(values)
    return ns, declared


def test_context_checks_parameters_before_any_work(monkeypatch) -> None:
    from tqa.study import context as C

    def boom(*a, **k):  # loading params would be the first piece of work
        raise AssertionError("params loaded before the parameters were checked")

    monkeypatch.setattr(C, "load_params", boom)
    ns, declared = _namespace(toy_dataa=True)  # a typo papermill would inject
    with pytest.raises(NotebookParameterError, match="'toy_dataa'; did you mean 'toy_data'"):
        notebook_context(ns, declared, where="03_pca", data="training")
    ns, declared = _namespace(params_path="no/such/params.yaml")
    with pytest.raises(NotebookParameterError, match="no such file"):
        notebook_context(ns, declared, where="03_pca")
    with pytest.raises(ValueError, match="data must be one of"):
        notebook_context(*_namespace(), where="x", data="everything")


def test_context_loads_params_with_overrides_output_folder_and_toy_data(tmp_path, capsys):
    ns, declared = _namespace(
        overrides={"seed": 5, "train.seeds": [3]}, reports_dir=str(tmp_path), toy_data=True
    )
    ns["notebook_context"] = notebook_context  # the opening cell's own import is not a parameter
    ctx = notebook_context(ns, declared, where="04_model", data="training")
    assert ctx.params["seed"] == 5 and ctx.params["train"]["seeds"] == [3]
    assert ctx.reports == tmp_path and ctx.prov == TOY_PROVENANCE and ctx.kind == "toy"
    assert len(ctx.features.video_ids) == TOY_VIDEOS == len(ctx.labels) == len(ctx.split)
    assert ctx.labels.dtype == np.float32  # as training reads them
    assert ctx.seeds == [3]
    assert capsys.readouterr().out == ""  # with data, ctx.show() states the provenance
    text = ctx.describe(outputs=[tmp_path / "x"])
    assert text.startswith(f"**This run.** Planted-signal toy data: {TOY_VIDEOS} videos (")
    assert f"- {TOY_PROVENANCE}\n" in text
    assert "- Outputs: `" + str(tmp_path / "x") + "`." in text


def test_context_without_data_defaults_to_scratch_and_has_no_facts(capsys) -> None:
    ns, declared = _namespace()
    ctx = notebook_context(ns, declared, where="01", extractors={"features": "none"})
    assert capsys.readouterr().out == ctx.prov + "\n" and "features=none" in ctx.prov
    ctx = notebook_context(ns, declared, where="10", quiet=True)
    assert ctx.reports == ROOT / "scratch" / "reports" and ctx.features is None
    assert capsys.readouterr().out == ""  # quiet: the notebook prints its own provenance
    with pytest.raises(AttributeError, match="no data"):
        ctx.facts  # noqa: B018


def test_show_displays_the_run_and_for_a_study_the_labels_per_split(monkeypatch) -> None:
    from tqa.study import context as C

    shown = []
    monkeypatch.setattr(C, "display", shown.append)
    ns, declared = _namespace(toy_data=True)
    ctx = notebook_context(ns, declared, where="05", data="training", quiet=True)
    ctx.show(methods=["gradnorm"], notes=["One fit per seed."])
    assert len(shown) == 1 and "- Methods: `gradnorm`." in shown[0].data
    assert shown[0].data.rstrip().endswith("- One fit per seed.")
    ctx.kind = "holdout"  # a study: near-constant labels noted, label counts per split shown
    shown.clear()
    ctx.show()
    assert "Near-constant test labels (shown apart):" in shown[0].data
    assert list(shown[1].columns) == sorted(["train", "val", "test"])
    assert shown[1].to_numpy().sum() == int((ctx.labels != -1).sum())
