"""Run a native-library parse in a forked child, so a hang or crash there cannot hurt the run.

Python-level parsers charge the per-file :class:`~modelxray.budget.Budget` and stop on their
own; a native library (libhdf5 behind h5py) cannot be interrupted that way — a corrupt file has
been seen to make libhdf5 loop forever.  :func:`call_in_child` forks, runs the function in the
child and sends back its JSON-serialisable result.  The parent waits until the file's deadline;
a child that is still running is killed, and a child that dies is reported, as
:class:`NativeFailure`.  Forking copies the already-imported interpreter, so it costs
milliseconds, not an interpreter start.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any


class NativeFailure(Exception):
    """The child hung past its deadline, crashed, or raised; ``kind`` says which."""

    def __init__(self, kind: str, detail: str, error: str = "", limit: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind  # "timeout" | "crash" | "error"
        self.detail = detail
        self.error = error  # the exception type the child raised, for kind "error"
        self.limit = limit  # the limit a BudgetExceeded in the child named


def call_in_child(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` computed in a forked child; its result must be JSON-serialisable."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        code = 0
        try:
            payload = json.dumps({"ok": fn()}, default=repr)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            payload = json.dumps(
                {
                    "error": type(exc).__name__,
                    "message": str(getattr(exc, "detail", exc))[:500],
                    "limit": getattr(exc, "limit", None),
                }
            )
            code = 1
        try:
            with os.fdopen(write_fd, "w", encoding="utf-8") as out:
                out.write(payload)
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise NativeFailure("timeout", f"native parser still running after {timeout:g}s")
            ready, _, _ = select.select([read_fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        raise NativeFailure("crash", f"native parser died with {sig}")
    try:
        message = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        raise NativeFailure("crash", "native parser exited without a result") from None
    if "error" in message:
        raise NativeFailure(
            "error", str(message["message"]), str(message["error"]), message.get("limit")
        )
    return message["ok"]
