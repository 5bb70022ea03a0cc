"""Building frozen, slotted dataclass instances fast (the parser's views and URIs).

A frozen dataclass sets each field through ``object.__setattr__`` (about a
thousand machine instructions per field in CPython 3.11), and the slot
descriptors' ``__set__`` are hardly cheaper.  The parser makes several views per
message, so it fills them another way: :func:`twin` gives a plain class with the
very same slots; an instance of it is filled with ordinary slot stores and then
made an instance of the frozen class by assigning ``__class__``, which CPython
allows between classes of one memory layout.  The result is the same object
``cls(...)`` would give; nothing can tell them apart.

    _VIA = twin(Via)
    via = _VIA()
    via.transport = "UDP"  # ... every field
    via.__class__ = Via

Every field must be set before the class changes hands (the dataclass
``__init__`` would have set them all).
"""

from __future__ import annotations

from typing import Any


def twin(cls: type) -> type[Any]:
    """A mutable class with the slots of the slotted dataclass ``cls``.

    Raises ``TypeError`` at import time if an instance of it could not become a
    ``cls`` (a layout CPython does not accept as the same).
    """
    mutable = type(f"_Mutable{cls.__name__}", (), {"__slots__": cls.__dict__["__slots__"]})
    mutable().__class__ = cls  # the check: raises TypeError if the layouts differ
    return mutable
