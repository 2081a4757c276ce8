"""The defect benchmark of issue 26 ("See the defects"): which fixed feature sees which defect.

Defect families are injected at graded levels into decoded clips, in memory, and each
family's declared feature is scored by detection AUC and Spearman with the level, on real
footage and on the sample corpus (``benchmarks/defects.py`` runs it and writes
``reports/defects.md``). Nothing here is fitted: the extractors keep their params.yaml
settings. One concept per module:

* :mod:`.families`: the families, their levels and declared features (the grid they use);
* :mod:`.inject`: the audio and video defect injections;
* :mod:`.variant_features`: the pipeline's extractors on a degraded clip, memoised per side;
* :mod:`.detection`: detection AUC, level Spearman, the real-footage table;
* :mod:`.corpus`: the same families looked up in the sample corpus's ``degradations.csv``;
* :mod:`.real`: the real-footage run's plan and summaries (variants, offsets, checks);
* :mod:`.targets`: the issue's targets and the "what it means" paragraph;
* :mod:`.offset_reading`: where the correlation sync reads its offset (2 s windows or the
  whole clip), compared on the corpus and on real footage;
* :mod:`.cells`, :mod:`.report`: table cells, strict JSON and the Markdown report.
"""
