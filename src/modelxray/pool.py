"""Spread work over forked worker processes; results in input order; a dead worker costs
only the item it held.

``concurrent.futures.ProcessPoolExecutor`` breaks the whole pool when one worker dies (an
out-of-memory kill, a native crash): every pending item then fails with ``BrokenProcessPool``.
Here each worker holds one item at a time, so when it dies the parent knows which item it was:
that item's result is ``on_death(item, exit_code)``, a fresh worker takes its place, and the
other items are unaffected.

Workers are forked (they inherit the imported readers and the items, so only an index crosses
the pipe); each asks to be killed with its parent (``children.die_with_parent``) and limits its
CPU time per item (``children.limit_cpu``).  Results come back through a
``multiprocessing`` pipe: they are the scanner's own result objects, made by the worker's code,
never scanned content.
"""

from __future__ import annotations

import gc
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _serve(
    conn: Any,
    items: Sequence[T],
    work: Callable[[T], R],
    parent: int,
    cpu_seconds: float | None,
) -> None:
    """A worker's loop: an index in, ``(index, result)`` out; None ends it."""
    from modelxray.children import die_with_parent, limit_cpu

    die_with_parent(parent)
    # What the worker inherited stays out of its collections: they would walk (and write
    # to) every page shared with the parent.
    gc.freeze()
    # Signals are the parent's to act on: Ctrl-C on a terminal reaches the whole process
    # group, and the parent stops the workers (forked workers would inherit its handlers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 0
    try:
        while True:
            i = conn.recv()
            if i is None:
                break
            if cpu_seconds is not None:
                limit_cpu(cpu_seconds)
            conn.send((i, work(items[i])))
    except BaseException:  # noqa: BLE001 - the parent sees the worker end and reports the item
        code = 1
    finally:
        os._exit(code)


def ordered_map(
    items: Sequence[T],
    work: Callable[[T], R],
    jobs: int,
    on_death: Callable[[T, int | None], R],
    cpu_seconds: float | None = None,
) -> Iterator[R]:
    """``work(item)`` for every item, computed in ``jobs`` forked workers, yielded in order.

    A worker that dies (or fails) while it holds an item yields ``on_death(item, exit code)``
    for it (the code is negative for a signal, None when unknown) and is replaced.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("fork")
    parent = os.getpid()
    todo = deque(range(len(items)))
    done: dict[int, R] = {}
    busy: dict[Any, tuple[Any, int]] = {}  # connection -> (process, index it holds)

    def start(index: int) -> None:
        mine, theirs = context.Pipe()
        proc = context.Process(
            target=_serve, args=(theirs, items, work, parent, cpu_seconds), daemon=True
        )
        proc.start()
        theirs.close()
        busy[mine] = (proc, index)
        try:
            mine.send(index)
        except OSError:  # died at once: reported as dead when its pipe is read
            pass

    def stop(conn: Any, proc: Any, kill: bool) -> int | None:
        if kill and proc.is_alive():
            proc.kill()
        conn.close()
        proc.join()
        return proc.exitcode  # type: ignore[no-any-return]

    try:
        while todo and len(busy) < jobs:
            start(todo.popleft())
        following = 0
        while following < len(items):
            while following in done:
                yield done.pop(following)
                following += 1
            if following >= len(items):
                break
            ready: list[Any] = wait(list(busy))
            for conn in ready:
                proc, index = busy.pop(conn)
                try:
                    got, result = conn.recv()
                    got = int(got)
                except (EOFError, OSError, ValueError, TypeError, AttributeError):
                    # The worker died holding ``index`` (or sent what cannot be read).
                    done[index] = on_death(items[index], stop(conn, proc, kill=True))
                    if todo:
                        start(todo.popleft())
                    continue
                done[got] = result
                if todo:
                    nxt = todo.popleft()
                    try:
                        conn.send(nxt)
                    except OSError:  # died after answering: ``nxt`` goes to a new worker
                        stop(conn, proc, kill=True)
                        start(nxt)
                        continue
                    busy[conn] = (proc, nxt)
                else:
                    conn.send(None)
                    stop(conn, proc, kill=False)
    finally:
        for conn, (proc, _) in list(busy.items()):
            stop(conn, proc, kill=True)
