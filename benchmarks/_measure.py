"""Run one command; write its exit code, wall time, CPU time and peak RSS as JSON (stdlib only).

Started as ``python -I -S _measure.py OUT.json STDOUT STDERR -- ARGV...`` by the harness: a small,
fresh process, so the measured child is forked from ~10 MB and not from the harness (Linux keeps
the pre-exec high-water mark of a forked process in its ``ru_maxrss``).
"""

import json
import os
import sys
import time


def main() -> int:
    out, stdout, stderr = sys.argv[1:4]
    argv = sys.argv[5:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: redirect and exec
        try:
            fd_in = os.open(os.devnull, os.O_RDONLY)
            fd_out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            fd_err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd_in, 0)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "rc": os.waitstatus_to_exitcode(status),
                "wall": wall,
                "maxrss_kb": usage.ru_maxrss,
                # CPU seconds of the tool and the children it waited for (pools, workers).
                "cpu": usage.ru_utime + usage.ru_stime,
            },
            f,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
