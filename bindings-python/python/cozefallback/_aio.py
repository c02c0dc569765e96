"""The asyncio side of the bridge: the native module completes futures through ``loop.call_soon_threadsafe``."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, Tuple


def _complete(fut: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    """Runs on the loop's thread; the future may have been cancelled meanwhile."""
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Starts a native call with ``aio=(loop, future)`` and awaits it; cancelling the awaiting task stops it."""
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[Any]" = loop.create_future()
    aio: Optional[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]] = (loop, fut)
    pending = fn(*args, aio=aio, **kwargs)
    try:
        return await fut
    except asyncio.CancelledError:
        pending.cancel()
        raise
