"""aigov_litellm's public surface: curated, sorted, each name real, and nothing of the stores."""

from __future__ import annotations

import subprocess
import sys

import aigov_litellm


def test_all_is_sorted_and_every_name_exists():
    names = list(aigov_litellm.__all__)
    assert names == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(aigov_litellm, name) is not None, name


def test_importing_it_loads_no_store_and_no_sql_driver():
    probe = (
        "import os, sys; os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'; "
        "import aigov_litellm; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'psycopg', 'aigov_memory', 'aigov_postgres', 'aigov_http'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
