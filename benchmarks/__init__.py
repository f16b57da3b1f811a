"""aigov's choices next to the alternatives, measured in one run (``python -m benchmarks``).

Three parts, each a module of its own: the seed upsert strategies (``seed_strategies``), the
budget hot path against hand-written floors (``hot_path``), and the organization export's memory
(``export_memory``). ``report`` turns their results into ``docs/benchmarks.md`` and a chart.
``--quick`` runs every part small, checks that the alternatives agree with aigov, and writes
nothing: it is what CI runs so that the benchmarks cannot rot.
"""
