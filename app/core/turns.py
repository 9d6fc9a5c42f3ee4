"""Work the request path leaves for the start of the event loop's next turn.

What follows a request -- its access line and metrics sample, its answer's metrics, drift
and feedback memory -- is kept as a tuple and done for every request of a turn in one
pass: done per request, with the cache as cold as it is between requests, it was over a
third of the app's own time per /predict (docs/performance.md#issue-21). A turn's
callbacks run before the I/O that the next turn reads, so nothing a later request could
see is still waiting.
"""

import asyncio
from collections.abc import Callable


def at_next_turn(flush: Callable[[], None]) -> None:
    """Call `flush` at the start of the running loop's next turn; with none running (a
    script, a test calling in directly), now."""
    try:
        asyncio.get_running_loop().call_soon(flush)
    except RuntimeError:
        flush()
