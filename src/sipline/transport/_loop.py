"""Event loop choice."""

from __future__ import annotations

import asyncio


def use_uvloop() -> bool:
    """Install uvloop's event loop policy when it is importable; True when installed."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
