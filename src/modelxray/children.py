"""What every child process of the scanner does first: no child outlives the scanner.

On Linux a child asks the kernel to SIGKILL it when its parent dies (``prctl(PR_SET_PDEATHSIG)``)
and exits at once if the parent is already gone; each child also limits its own CPU time
(``RLIMIT_CPU``) to what its current request may take, so a parse spinning where no Python
check runs ends even where the parent-death signal is not available.  Used by the worker pool
(``pool``) and the ``--isolate`` children (``isolate``).
"""

from __future__ import annotations

import os
import signal
import sys


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
