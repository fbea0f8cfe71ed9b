"""An LRU of shown suggestions, and 'typing as suggested' hits: no model call when the user types the start of
the suggestion that is on screen."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class CacheKey:
    """The prompt-relevant text: everything before and after the cursor, and the settings that shape output."""

    before: str
    after: str
    settings: tuple[object, ...]


class SuggestionCache:
    def __init__(self, capacity: int = 256, forward_window: int = 16) -> None:
        self._entries: OrderedDict[CacheKey, str] = OrderedDict()
        self._capacity = capacity
        self._forward_window = forward_window
        self.hits = 0
        self.forward_hits = 0

    def put(self, key: CacheKey, suggestion: str) -> None:
        self._entries[key] = suggestion
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def get(self, key: CacheKey) -> str | None:
        """An exact hit, or the rest of a recent suggestion whose beginning the user has just typed."""
        exact = self._entries.get(key)
        if exact is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return exact
        for old_key in list(reversed(self._entries))[: self._forward_window]:
            if old_key.after != key.after or old_key.settings != key.settings:
                continue
            if not key.before.startswith(old_key.before):
                continue
            typed = key.before[len(old_key.before) :]
            suggestion = self._entries[old_key]
            if typed and suggestion.startswith(typed) and len(suggestion) > len(typed):
                self.forward_hits += 1
                return suggestion[len(typed) :]
        return None
