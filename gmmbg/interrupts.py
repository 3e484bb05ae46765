"""Ctrl-C (SIGINT) and SIGTERM that a run cannot lose.

Python raises a signal handler's exception wherever the main thread happens to be. When that
is inside a callback whose exceptions Python reports and ignores (a weakref or import-lock
callback, "Exception ignored in ..."), the interrupt is swallowed and the run would go on to
finish. So the handler also records the signal, and :func:`check`, which ``media.iter_frames``
calls for every frame, raises it again: a run stops within a frame of the signal either way.
"""

from __future__ import annotations

import signal

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM

_received: list[int] = []


def install() -> None:
    """Handle SIGINT and SIGTERM in this process (the command line's entry point does)."""
    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)


def check() -> None:
    """Raise the interrupt of a signal received earlier (one that may have been swallowed)."""
    if _received:
        _raise(_received[0])


def _handle(signum: int, frame) -> None:
    _received.append(signum)
    _raise(signum)


def _raise(signum: int) -> None:
    """SIGTERM unwinds like Ctrl-C, so temporary outputs are removed on the way out."""
    if signum == signal.SIGTERM:
        raise SystemExit(EXIT_TERMINATED)
    raise KeyboardInterrupt
