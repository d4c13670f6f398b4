"""Run a native-library parse in a forked child, so a hang or crash there cannot hurt the run.

Python-level parsers charge the per-file :class:`~modelxray.budget.Budget` and stop on their
own; a native library (libhdf5 behind h5py) cannot be interrupted that way — a corrupt file has
been seen to make libhdf5 loop forever.  :func:`call_in_child` forks, runs the function in the
child and sends back its JSON-serialisable result.  The parent waits until the file's deadline;
a child that is still running is killed, and a child that dies is reported, as
:class:`NativeFailure`.  Forking copies the already-imported interpreter, so it costs
milliseconds, not an interpreter start.

No child outlives the scanner: on Linux every child asks the kernel to SIGKILL it when its parent
dies (``prctl(PR_SET_PDEATHSIG)``), and every child limits its own CPU time (``RLIMIT_CPU``) to
what its request may take, so a parse spinning in native code ends even where the parent-death
signal is not available.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import sys
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


def die_with_parent(parent: int, signal_on_death: bool = True) -> None:
    """In a freshly forked child of ``parent``: be killed when the parent dies (Linux:
    ``PR_SET_PDEATHSIG``, which fires when the *thread* that forked ends: ``signal_on_death``
    False for a child that must outlive its forking thread), and exit now if it already has."""
    if signal_on_death and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def limit_cpu(seconds: float) -> None:
    """Let this process use at most ``seconds`` more CPU time (``RLIMIT_CPU``: SIGXCPU, then
    SIGKILL at the hard limit); the soft limit is raised again for each new request."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY and soft > hard:
        soft = hard
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


_PR_SET_PDEATHSIG = 1


def call_in_child(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` computed in a forked child; its result must be JSON-serialisable."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child
        die_with_parent(parent)
        limit_cpu(timeout + 1)
        os.close(read_fd)
        answer = _answer(fn)
        try:
            with os.fdopen(write_fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(answer, default=repr))
        finally:
            os._exit(0 if "ok" in answer else 1)
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
    return _result(message)


def _answer(fn: Callable[[], Any]) -> dict[str, Any]:
    """``fn()``'s result, or the exception it raised, as the JSON message a child sends back."""
    try:
        return {"ok": fn()}
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        return {
            "error": type(exc).__name__,
            "message": str(getattr(exc, "detail", exc))[:500],
            "limit": getattr(exc, "limit", None),
        }


def _result(message: dict[str, Any]) -> Any:
    """The parent's side of :func:`_answer`: the result, or a NativeFailure of kind "error"."""
    if "error" in message:
        raise NativeFailure(
            "error", str(message["message"]), str(message["error"]), message.get("limit")
        )
    return message["ok"]


# ---------------------------------------------------------------------------- a standing worker
#
# Forking per file costs milliseconds once the parent is large.  For files on disk, one forked
# worker serves request after request (JSON lines over pipes); a request that runs past its
# deadline kills the worker, and the next request forks a fresh one.

_FUNCTIONS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def register(name: str, fn: Callable[[dict[str, Any]], Any]) -> None:
    """Make ``fn`` callable in the worker by ``name`` (register before the first call)."""
    _FUNCTIONS[name] = fn


class _Worker:
    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        import threading

        parent = os.getpid()
        # A worker outlives the thread that forked it; the parent-death signal fires when that
        # thread ends, so it is asked for only from the main thread (elsewhere the worker's
        # CPU limit per request and the end of its request pipe end it).
        main = threading.current_thread() is threading.main_thread()
        pid = os.fork()
        if pid == 0:  # worker
            die_with_parent(parent, signal_on_death=main)
            os.close(to_child_w)
            os.close(from_child_r)
            _serve(to_child_r, from_child_w)
        os.close(to_child_r)
        os.close(from_child_w)
        self.pid = pid
        self.owner = os.getpid()
        self.send_fd = to_child_w
        self.recv_fd = from_child_r
        self.buffer = b""

    def close(self, kill: bool) -> None:
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for fd in (self.send_fd, self.recv_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _call_registered(request: dict[str, Any]) -> Any:
    return _FUNCTIONS[request["fn"]](request["args"])


def _serve(recv_fd: int, send_fd: int) -> None:
    """The worker's loop: one JSON request per line in, one JSON answer per line out."""
    code = 0
    try:
        with os.fdopen(recv_fd, "rb") as requests, os.fdopen(send_fd, "wb") as answers:
            for line in requests:
                request = json.loads(line)
                limit_cpu(float(request.get("timeout", 60.0)) + 1)
                answer = _answer(functools.partial(_call_registered, request))
                answers.write(json.dumps(answer, default=repr).encode("utf-8") + b"\n")
                answers.flush()
    except BaseException:  # noqa: BLE001 - the parent sees the worker die
        code = 1
    finally:
        os._exit(code)


_worker: _Worker | None = None


def call_in_worker(name: str, args: dict[str, Any], timeout: float) -> Any:
    """``_FUNCTIONS[name](args)`` computed by the standing worker, within ``timeout`` seconds."""
    global _worker
    if _worker is not None and _worker.owner != os.getpid():
        _worker = None  # inherited across a fork (a process-pool worker): not ours to use
    if _worker is None:
        _worker = _Worker()
    worker = _worker
    try:
        request = {"fn": name, "args": args, "timeout": timeout}
        os.write(worker.send_fd, json.dumps(request).encode("utf-8") + b"\n")
        deadline = time.monotonic() + timeout
        while b"\n" not in worker.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NativeFailure("timeout", f"native parser still running after {timeout:g}s")
            ready, _, _ = select.select([worker.recv_fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(worker.recv_fd, 1 << 16)
                if not chunk:
                    raise NativeFailure("crash", "native parser died")
                worker.buffer += chunk
    except (NativeFailure, OSError) as exc:
        worker.close(kill=True)
        _worker = None
        if isinstance(exc, NativeFailure):
            raise
        raise NativeFailure("crash", f"native parser worker failed: {exc}") from None
    line, _, worker.buffer = worker.buffer.partition(b"\n")
    return _result(json.loads(line.decode("utf-8")))
