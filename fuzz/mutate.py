"""A small, deterministic mutation fuzzer: the fallback when atheris is not installed, and
the engine of the CI smoke test (``tests/test_fuzz_smoke.py``).

It is not coverage-guided; it mutates seeds with the classic libFuzzer moves (bit flips,
interesting integers, truncation, insertion, duplication, splicing) from a seeded RNG, so
a failure reproduces from ``(harness, seed, iteration)`` alone.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator, Sequence

_INTERESTING = (
    0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
    0xFFFFFFFF, 1 << 31, 1 << 60, (1 << 63) - 1, 1 << 63, (1 << 64) - 1,
)  # fmt: skip
MAX_LEN = 1 << 20


def _interesting(rng: random.Random) -> bytes:
    v = rng.choice(_INTERESTING)
    size = rng.choice((1, 2, 4, 8))
    v &= (1 << (8 * size)) - 1
    order = rng.choice("<>")
    return struct.pack(order + {1: "B", 2: "H", 4: "I", 8: "Q"}[size], v)


def mutate(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """One to four random edits of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        n = len(buf)
        pos = rng.randrange(n + 1) if n else 0
        if op == 0 and n:  # flip a bit
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # random byte
            buf[rng.randrange(n)] = rng.randrange(256)
        elif op == 2:  # overwrite with an interesting integer
            v = _interesting(rng)
            buf[pos : pos + len(v)] = v
        elif op == 3:  # insert an interesting integer
            buf[pos:pos] = _interesting(rng)
        elif op == 4 and n:  # truncate
            del buf[rng.randrange(n) :]
        elif op == 5 and n:  # delete a run
            del buf[pos : pos + rng.randint(1, 64)]
        elif op == 6 and n:  # duplicate a run
            start = rng.randrange(n)
            chunk = bytes(buf[start : start + rng.randint(1, 256)])
            buf[pos:pos] = chunk * rng.randint(1, 8)
        elif op == 7 and pool:  # splice with another seed
            other = rng.choice(pool)
            if other:
                start = rng.randrange(len(other))
                buf[pos:] = other[start : start + rng.randint(1, 4096)]
        else:  # random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
    return bytes(buf[:MAX_LEN])


def cases(seeds: Sequence[bytes], iterations: int, seed: int) -> Iterator[tuple[int, bytes]]:
    """The seeds themselves, then ``iterations`` mutants (index, input)."""
    rng = random.Random(seed)
    pool = list(seeds) or [b""]
    yield from enumerate(pool)
    for i in range(iterations):
        yield len(pool) + i, mutate(rng.choice(pool), rng, pool)


def run(
    target: Callable[[bytes], None], seeds: Sequence[bytes], iterations: int, seed: int = 0
) -> list[tuple[int, bytes, BaseException]]:
    """Run ``target`` on every case; return the failing ones (index, input, exception)."""
    failures: list[tuple[int, bytes, BaseException]] = []
    for i, data in cases(seeds, iterations, seed):
        try:
            target(data)
        except Exception as exc:  # noqa: BLE001 - every escape is a failure to report
            failures.append((i, data, exc))
    return failures
