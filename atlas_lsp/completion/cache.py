"""An LRU of shown suggestions, and 'typing as suggested' hits: no model call when the user types the start of
the suggestion that is on screen. It also holds speculations: the suggestion that will follow a shown one once the
user accepts it, computed while the model was idle (an empty one too: nothing to show there)."""

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
        self._speculated: set[CacheKey] = set()  # entries put by a speculation and not asked for yet
        self.hits = 0
        self.forward_hits = 0
        self.speculation_hits = 0  # exact hits on a speculation's entry (the user accepted what it followed)

    def put(self, key: CacheKey, suggestion: str, speculated: bool = False) -> None:
        self._entries[key] = suggestion
        self._entries.move_to_end(key)
        if speculated:
            self._speculated.add(key)
        while len(self._entries) > self._capacity:
            old_key, _ = self._entries.popitem(last=False)
            self._speculated.discard(old_key)

    def __contains__(self, key: CacheKey) -> bool:
        """Whether ``key`` has an entry (counts nothing, moves nothing)."""
        return key in self._entries

    def get(self, key: CacheKey) -> str | None:
        """An exact hit, or the rest of a recent suggestion whose beginning the user has just typed."""
        exact = self._entries.get(key)
        if exact is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            if key in self._speculated:
                self._speculated.discard(key)
                self.speculation_hits += 1
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
