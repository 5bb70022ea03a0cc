"""The in-memory binding index: AOR -> {key: Binding}, plus an expiry heap.

Lookups on the registrar's and the call layer's hot paths read only this; the
SQLite tables behind it are written through and read once, at start.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from sipline.store._model import Binding

__all__ = ["BindingIndex"]


def _q_order(binding: Binding) -> float:
    # RFC 3261 §16.6 / §20.10: absent q ranks like 1.0; higher q first.
    return -(1.0 if binding.q is None else binding.q)


class BindingIndex:
    """Bindings by AOR and key, with a lazy-deletion heap of expiry times."""

    __slots__ = ("_by_aor", "_count", "_heap")

    def __init__(self) -> None:
        self._by_aor: dict[str, dict[str, Binding]] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def lookup(self, aor: str, now: float) -> list[Binding]:
        bindings = self._by_aor.get(aor)
        if not bindings:
            return []
        alive = [b for b in bindings.values() if b.expires_at > now]
        if len(alive) > 1:
            alive.sort(key=_q_order)
        return alive

    def put(self, binding: Binding) -> None:
        bindings = self._by_aor.setdefault(binding.aor, {})
        if binding.key not in bindings:
            self._count += 1
        bindings[binding.key] = binding
        heapq.heappush(self._heap, (binding.expires_at, binding.aor, binding.key))

    def discard(self, aor: str, keys: Iterable[str] | None = None) -> int:
        """Remove ``keys`` of ``aor`` (all of them when None); how many were there."""
        bindings = self._by_aor.get(aor)
        if bindings is None:
            return 0
        if keys is None:
            removed = len(bindings)
            bindings.clear()
        else:
            removed = 0
            for key in keys:
                if bindings.pop(key, None) is not None:
                    removed += 1
        if not bindings:
            del self._by_aor[aor]
        self._count -= removed
        return removed

    def pop_expired(self, now: float) -> list[Binding]:
        """Remove and return the bindings with ``expires_at <= now``.

        Heap entries whose binding was since refreshed or removed are skipped, so a
        re-REGISTER costs one push and no search.
        """
        heap = self._heap
        expired: list[Binding] = []
        while heap and heap[0][0] <= now:
            expires_at, aor, key = heapq.heappop(heap)
            bindings = self._by_aor.get(aor)
            if bindings is None:
                continue
            binding = bindings.get(key)
            if binding is None or binding.expires_at != expires_at:
                continue
            expired.append(binding)
            self.discard(aor, (key,))
        if len(heap) > 4 * self._count + 1024:
            self._compact()
        return expired

    def _compact(self) -> None:
        # Refreshes leave stale heap entries; rebuild when they dominate.
        self._heap = [
            (b.expires_at, b.aor, b.key) for bs in self._by_aor.values() for b in bs.values()
        ]
        heapq.heapify(self._heap)

    def all(self, now: float) -> list[Binding]:
        return [b for aor in sorted(self._by_aor) for b in self.lookup(aor, now)]
