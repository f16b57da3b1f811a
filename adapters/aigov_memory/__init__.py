"""The in-memory store: complete, thread-safe, and the reference for every other store."""

from aigov_memory._store import MemoryStore

__all__ = ["MemoryStore"]
