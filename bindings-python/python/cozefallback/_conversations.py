"""What a call reports when its conversation was stranded by the move and carried over."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Tuple, Union

__all__ = ["ConversationMoved", "ConversationHook"]

ConversationHook = Callable[[str, str, int], Any]
"""``on_conversation_moved(from_, to, messages_copied)``: called once per carry-over, on a library thread."""

_KEYS = ("from", "to", "messages_copied")


class ConversationMoved(Mapping[str, Union[str, int]]):
    """A conversation carried over by the move: the old id, the new one, and how many messages were copied.

    ``from`` is a Python keyword, so the old id is the attribute ``from_``; the object is also a read-only
    mapping with the keys ``"from"``, ``"to"`` and ``"messages_copied"`` (``dict(moved)`` gives the JSON shape)
    and compares equal to a dict holding the same three items.

    >>> moved = ConversationMoved("7480000000000000001", "7480000000000000002", 4)
    >>> moved.from_, moved["from"], moved.to, moved.messages_copied
    ('7480000000000000001', '7480000000000000001', '7480000000000000002', 4)
    >>> moved
    ConversationMoved(from_='7480000000000000001', to='7480000000000000002', messages_copied=4)
    """

    __slots__ = ("_from", "_to", "_messages_copied")
    _from: str
    _to: str
    _messages_copied: int

    def __init__(self, from_: str, to: str, messages_copied: int) -> None:
        object.__setattr__(self, "_from", from_)
        object.__setattr__(self, "_to", to)
        object.__setattr__(self, "_messages_copied", messages_copied)

    @property
    def from_(self) -> str:
        """The stranded conversation the call named (the id the app stored)."""
        return self._from

    @property
    def to(self) -> str:
        """The new conversation, under the credential that reaches the bot: store it in place of ``from_``."""
        return self._to

    @property
    def messages_copied(self) -> int:
        """Messages copied into the new conversation (0 with ``on_stranded: "new"``)."""
        return self._messages_copied

    def __getitem__(self, key: str) -> Union[str, int]:
        if key == "from":
            return self.from_
        if key == "to":
            return self.to
        if key == "messages_copied":
            return self.messages_copied
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ConversationMoved is read-only (cannot set {name!r})")

    def __hash__(self) -> int:
        return hash((self.from_, self.to, self.messages_copied))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (ConversationMoved, (self.from_, self.to, self.messages_copied))

    def __repr__(self) -> str:
        return f"ConversationMoved(from_={self.from_!r}, to={self.to!r}, messages_copied={self.messages_copied})"
