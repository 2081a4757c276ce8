"""The parts of ``benchmarks/run_all.py``: the machine (:mod:`.device`), what it measures
(:mod:`.measure`), the targets check (:mod:`.targets`) and the report (:mod:`.report`)."""
