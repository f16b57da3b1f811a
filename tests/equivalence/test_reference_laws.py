"""The equivalence machine's laws hold on the reference store itself (a fast check of the
machine, independent of any server)."""

from __future__ import annotations

from aigov_contracts import equivalence_test
from aigov_memory import MemoryStore

TestMemoryAgainstItself = equivalence_test(MemoryStore).TestCase
