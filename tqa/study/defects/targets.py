"""The issue's targets, checked on the benchmark's tables, and the paragraph that says what
they mean (written from the numbers, never by hand).

Targets (issue 26): every family detected with AUC >= :data:`AUC_MIDDLE` at its middle level
(the corpus: its middle third); an A/V offset of :data:`OFFSET_MIN` or more frames with AUC >=
:data:`AUC_OFFSET`; in-sync recordings estimated within one frame.
"""

from __future__ import annotations

from tqa.study.defects.cells import fmt

#: Targets of the issue.
AUC_MIDDLE, AUC_OFFSET, OFFSET_MIN = 0.9, 0.95, 2

#: Names of the targets (keys of :func:`targets`, read by :func:`meaning`).
REAL_MIDDLE = "every family AUC >= 0.9 at its middle level"
CORPUS_MIDDLE = "every family AUC >= 0.9 at its middle third"
OFFSET = "A/V offset >= 2 frames: AUC >= 0.95"
REAL_SYNC = "in-sync originals |offset| <= 1"
CORPUS_SYNC = "in-sync videos |offset| <= 1"


def middle_rows(real: dict) -> dict[str, dict]:
    """Real footage: each family's declared-feature row at its middle level."""
    return {r["family"]: r for r in real["table"] if r["declared"] and r["middle"]}


def corpus_middle(corpus: dict) -> dict[str, dict]:
    """Sample corpus: each family's declared-feature row, its middle third (or only bin) as
    ``mid``."""
    out = {}
    for r in corpus.get("table", []):
        if r["declared"]:
            mid = [b for b in r["bins"] if b["bin"] in ("middle", "all")][0]
            out[r["family"]] = {**r, "mid": mid}
    return out


def targets(real: dict, corpus: dict) -> dict:
    """Each target, per source (``real``, ``corpus`` when measured): met or not, and what was
    measured."""
    out = {"real": real_targets(real)}
    if "table" in corpus:
        out["corpus"] = corpus_targets(corpus)
    return out


def real_targets(real: dict) -> dict:
    """The targets on real footage."""
    mids = middle_rows(real)
    t1_fail = {f: r["auc"] for f, r in mids.items() if not r["auc"] >= AUC_MIDDLE}
    off = [
        r for r in real["table"]
        if r["family"] == "offset" and r["declared"] and r["level"] >= OFFSET_MIN
    ]  # fmt: skip
    orig = {c: int(v) for c, v in real["offset"]["originals"].items()}
    return {
        REAL_MIDDLE: {
            "met": not t1_fail,
            "seen": sorted(f for f in mids if f not in t1_fail),
            "not_seen": t1_fail,
        },
        OFFSET: {
            "met": all(r["auc"] >= AUC_OFFSET for r in off),
            "auc_by_level": {int(r["level"]): r["auc"] for r in off},
        },
        REAL_SYNC: {"met": all(abs(v) <= 1 for v in orig.values()), "offsets": orig},
    }


def corpus_targets(corpus: dict) -> dict:
    """The targets on the sample corpus."""
    cm = corpus_middle(corpus)
    fail = {f: r["mid"]["auc"] for f, r in cm.items() if not r["mid"]["auc"] >= AUC_MIDDLE}
    o = corpus["offset"]
    return {
        CORPUS_MIDDLE: {
            "met": not fail,
            "seen": sorted(f for f in cm if f not in fail),
            "not_seen": fail,
        },
        OFFSET: {
            "met": o["auc_ge2"]["auc"] >= AUC_OFFSET,
            "auc": o["auc_ge2"]["auc"],
            "n": [o["auc_ge2"]["n_clean"], o["auc_ge2"]["n_degraded"]],
        },
        CORPUS_SYNC: {
            "met": o["in_sync_abs_le_1"] == o["n_in_sync"],
            "share": [o["in_sync_abs_le_1"], o["n_in_sync"]],
        },
    }


# ------------------------------------------------------------------------------ what it means
def meaning(res: dict) -> str:
    """The "what it means" paragraph of a result (``real``, ``corpus``, ``targets``): which
    families are seen, the targets, after-the-fact alternatives, features moving the wrong way,
    the sample corpus, and where the two sources disagree."""
    mids = middle_rows(res["real"])
    parts = [
        seen_sentence(res, mids),
        paired_sentence(res, mids),
        targets_sentence(res),
        alternatives_sentence(res),
        against_sentence(res),
        corpus_sentence(res),
        disagreement_sentence(res, mids),
    ]
    return " ".join(p for p in parts if p)


def seen_sentence(res: dict, mids: dict[str, dict]) -> str:
    """Real footage: the families seen (and not) by their declared feature at the middle level."""
    t = res["targets"]["real"][REAL_MIDDLE]
    seen, not_seen = t["seen"], t["not_seen"]
    n_clean = next(iter(mids.values()))["n_clean"]
    return (
        f"On the {n_clean} real recordings, {len(seen)} of {len(mids)} defect families are seen "
        f"by their declared feature at the middle level (AUC >= {AUC_MIDDLE}): "
        + (", ".join(f"{f} ({mids[f]['auc']:.2f})" for f in seen) or "none")
        + ". Not seen: "
        + (
            ", ".join(f"{f} ({fmt(a)} with `{mids[f]['feature']}`)" for f, a in not_seen.items())
            or "none"
        )
        + "."
    )


def paired_sentence(res: dict, mids: dict[str, dict]) -> str:
    """Real footage: the families not seen, each variant against its own original (a
    recording's own level hides a defect from the AUC, not from this comparison)."""
    not_seen = res["targets"]["real"][REAL_MIDDLE]["not_seen"]
    have = [f for f in not_seen if mids[f].get("paired") is not None]
    if not have:
        return ""
    return (
        "Against its own original (the paired share: what a user comparing two versions of "
        "the same video sees; not a target), the middle level of "
        + "; ".join(
            f"{f} reads worse in {fmt(mids[f]['paired'])} of {mids[f]['n_pairs']} pairs"
            for f in have
        )
        + "."
    )


def targets_sentence(res: dict) -> str:
    """Real footage: each target met or not, with its numbers."""
    t = res["targets"]["real"]
    not_seen = t[REAL_MIDDLE]["not_seen"]
    off, orig = t[OFFSET], t[REAL_SYNC]
    return (
        "Targets: every family detected with AUC >= 0.9 at its middle level: "
        + ("**met**" if not not_seen else f"**not met** ({len(not_seen)} families short)")
        + "; A/V offset of 2 or more frames with AUC >= 0.95: "
        + ("**met**" if off["met"] else "**not met**")
        + " (AUC by |k|: "
        + ", ".join(f"{k}: {fmt(a)}" for k, a in off["auc_by_level"].items())
        + "); in-sync originals |offset| <= 1: "
        + ("**met**" if orig["met"] else "**not met**")
        + f" ({sum(abs(v) <= 1 for v in orig['offsets'].values())}/{len(orig['offsets'])}: "
        + ", ".join(f"{v:+.0f}" for v in orig["offsets"].values())
        + ")."
    )


def alternatives_sentence(res: dict) -> str:
    """Real footage: the best other candidate feature that would see a family not seen."""
    alt = []
    for f in res["targets"]["real"][REAL_MIDDLE]["not_seen"]:
        cands = [
            r for r in res["real"]["table"]
            if r["family"] == f and r["middle"] and not r["declared"]
            and r["auc"] is not None and r["auc"] >= AUC_MIDDLE
        ]  # fmt: skip
        if cands:
            best = max(cands, key=lambda r: r["auc"])
            alt.append(f"{f} by `{best['feature']}` ({fmt(best['auc'])})")
    return _listing(
        "Among the other candidate features (chosen after the fact, so information only, "
        "not a met target), the real middle level would be seen for: ",
        alt,
        "; ",
    )


def against_sentence(res: dict) -> str:
    """Real footage: features whose Spearman with the level is below -0.3."""
    against = sorted(
        {
            f"`{r['feature']}` under {r['family']} ({fmt(r['spearman'])})"
            for r in res["real"]["table"]
            if r["spearman"] is not None and r["spearman"] < -0.3
        }
    )
    return _listing(
        "On real footage these features move against their declared direction as the "
        "level grows (Spearman < -0.3): ",
        against,
    )


def corpus_sentence(res: dict) -> str:
    """The sample corpus's targets in words ("" when the corpus was not measured)."""
    if "corpus" not in res["targets"]:
        return ""
    c = res["targets"]["corpus"]
    cs, share = c[CORPUS_MIDDLE], c[CORPUS_SYNC]["share"]
    return (
        f"On the sample corpus the same features see {len(cs['seen'])} of "
        f"{len(cs['seen']) + len(cs['not_seen'])} families at the middle third of their "
        "levels ("
        + (", ".join(cs["seen"]) or "none")
        + "); not: "
        + (", ".join(f"{f} ({fmt(a)})" for f, a in cs["not_seen"].items()) or "none")
        + f". Offset >= 2 frames: AUC {fmt(c[OFFSET]['auc'])}"
        f"; in-sync videos with |offset| <= 1: {share[0]}/{share[1]}. Corpus videos carry "
        "several defects at once, so a family's clean side holds other defects too."
    )


def disagreement_sentence(res: dict, mids: dict[str, dict]) -> str:
    """Families seen at the middle level by one source and not by the other."""
    cm = corpus_middle(res.get("corpus", {}))
    disagree = [
        f for f in mids
        if f in cm and (mids[f]["auc"] >= AUC_MIDDLE) != (cm[f]["mid"]["auc"] >= AUC_MIDDLE)
    ]  # fmt: skip
    return _listing(
        "Real footage and sample corpus disagree on: ",
        [f"{f} (real {fmt(mids[f]['auc'])}, corpus {fmt(cm[f]['mid']['auc'])})" for f in disagree],
    )


def _listing(intro: str, items: list[str], sep: str = ", ") -> str:
    """``intro``, then ``items`` joined by ``sep`` and a full stop; "" when there are none
    (a sentence that would list nothing is left out of the report)."""
    return intro + sep.join(items) + "." if items else ""
