"""Write tests/data/marshal/*.bin and manifest.json using every pyenv CPython.

Each fixture is a lambda compiled from source text (``compile(src, 'fixture.py', 'eval')``);
its code object is taken from the compiled module's constants and marshalled.  Nothing is
evaluated: the malicious-shaped payloads (which would only echo a marker or touch a
/tmp/modelxray_marker file) are never run.  Expected names/strings come from the freshly
compiled code objects, never from unmarshalling.
Usage: ``python scripts/make_marshal_fixtures.py``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

PYENV = Path("/root/.pyenv/versions")
VERSIONS = [
    *("2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18"),
    *("3.10.13", "3.11.7", "3.12.1", "3.13.0"),
]
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "marshal"
M = "MODELXRAY_MARKER"

# name, source, malicious, minimum (major, minor), substrings expected in reconstruct() output
FIXTURES: list[tuple[str, str, bool, tuple[int, int], list[str]]] = [
    ("mul", "lambda x: x * 2.0", False, (2, 7), []),
    ("add", "lambda x: x + 1", False, (2, 7), []),
    ("closure", "lambda scale: (lambda x: x * scale)", False, (2, 7), []),
    ("listcomp", "lambda x: [v * 2 for v in x if v]", False, (2, 7), []),
    ("defaults", "lambda x, y=2, *args, **kw: x + y + len(args)", False, (2, 7), ["len(args)"]),
    ("kwonly", "lambda x, *, k=1.5: x + k", False, (3, 0), []),
    ("kwcall", "lambda x: K.sum(x, axis=-1, keepdims=True)", False, (2, 7), ["K.sum(x, "]),
    ("fstring", "lambda x: f'{x!r:>10}' + 'b'", False, (3, 6), []),
    (
        "fstring_call",
        f"lambda x: os.popen(f'echo {{x!r:>4}} {M}').read() or x",
        True,
        (3, 6),
        [f"os.popen(f'echo {{x!r:>4}} {M}')", ".read()"],
    ),
    (
        "import_system",
        f"lambda x: __import__('os').system('echo {M}') or x",
        True,
        (2, 7),
        ["__import__('os')", f"__import__('os').system('echo {M}')"],
    ),
    (
        "os_system",
        "lambda x: os.system('touch /tmp/modelxray_marker') or x",
        True,
        (2, 7),
        ["os.system('touch /tmp/modelxray_marker')"],
    ),
    (
        "exec_str",
        f"lambda x: exec(\"print('{M}')\") or x",
        True,
        (3, 0),
        [f"exec(\"print('{M}')\")"],
    ),
    (
        "eval_str",
        f"lambda x: eval(\"__import__('os').system('echo {M}')\") or x",
        True,
        (2, 7),
        ["eval(", f"system('echo {M}')"],
    ),
    (
        "getattr_builtins",
        f"lambda x: getattr(__builtins__, 'ex' + 'ec')(\"print('{M}')\") or x",
        True,
        (2, 7),
        ["getattr(__builtins__, 'exec')", f"(\"print('{M}')\")"],
    ),
    (
        "getattr_join",
        f"lambda x, a='ev': getattr(__builtins__, a + 'al')(\"print('{M}')\") or x",
        True,
        (2, 7),
        ["getattr(__builtins__, a + 'al')"],
    ),
    (
        "open_marker",
        "lambda x: (open('/tmp/modelxray_marker', 'w'), x)[1]",
        True,
        (2, 7),
        ["open('/tmp/modelxray_marker', 'w')"],
    ),
    (
        "subclasses",
        "lambda x: [c for c in ().__class__.__bases__[0].__subclasses__()"
        f" if c.__name__ == 'Popen'][0](['echo', '{M}']) or x",
        True,
        (2, 7),
        ["__subclasses__()", f"(['echo', '{M}'])"],
    ),
    (
        "popen_kw",
        f"lambda x: __import__('subprocess').Popen(['echo', '{M}'], shell=False) or x",
        True,
        (2, 7),
        [f"__import__('subprocess').Popen(['echo', '{M}'], shell=False)"],
    ),
    (
        "star_call",
        f"lambda x: __import__('os').system(*['echo {M}']) or x",
        True,
        (2, 7),
        [f"__import__('os').system('echo {M}')"],
    ),
]

# Extra encodings of one lambda under older marshal format versions (str floats, no refs...).
VARIANT_SRC = "lambda x: x * 2.5 + 1j - 12345678901234567890 + len(u'caf\\xe9')"
VARIANTS = {"3.11.7": [0, 1, 2, 3], "2.7.18": [0, 1], "3.8.18": [2]}

# Runs inside every interpreter, 2.7 included: keep it 2.7-compatible.
DRIVER = r"""
import binascii, json, marshal, sys, types
def walk(co):
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            for x in walk(c):
                yield x
def strs(v, out):
    if isinstance(v, (tuple, frozenset)):
        for e in v:
            strs(e, out)
    elif isinstance(v, bytes) and not isinstance(v, str):
        out.add(v.decode("latin-1"))
    elif isinstance(v, str):
        out.add(v if sys.version_info[0] >= 3 else v.decode("latin-1"))
    elif sys.version_info[0] < 3 and isinstance(v, unicode):
        out.add(v)
res = []
for name, src, mver in json.load(sys.stdin):
    mod = compile(src, "fixture.py", "eval")
    co = [c for c in mod.co_consts if isinstance(c, types.CodeType)][0]
    data = marshal.dumps(co) if mver is None else marshal.dumps(co, mver)
    names, strings = set(), set()
    for c in walk(co):
        names.update(c.co_names + c.co_varnames + c.co_freevars + c.co_cellvars)
        for k in c.co_consts:
            strs(k, strings)
    res.append({"name": name, "hex": binascii.hexlify(data).decode("ascii"),
                "names": sorted(names), "strings": sorted(strings),
                "co_name": co.co_name, "argcount": co.co_argcount,
                "nested": len(list(walk(co))) - 1})
print(json.dumps(res))
"""


def layout(ver: tuple[int, int]) -> str:
    if ver[0] == 2:
        return "2.7"
    return "3.0-3.7" if ver < (3, 8) else "3.8-3.10" if ver < (3, 11) else "3.11+"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.bin"):
        old.unlink()
    entries = []
    for full in VERSIONS:
        ver = (int(full.split(".")[0]), int(full.split(".")[1]))
        short = f"{ver[0]}.{ver[1]}"
        jobs: list[tuple[str, str, int | None, bool, list[str]]] = [
            (n, s, None, mal, exp) for n, s, mal, lo, exp in FIXTURES if ver >= lo
        ]
        jobs += [(f"variant_v{mv}", VARIANT_SRC, mv, False, []) for mv in VARIANTS.get(full, [])]
        payload = json.dumps([[n, s, mv] for n, s, mv, _, _ in jobs])
        exe = str(PYENV / full / "bin" / "python")
        proc = subprocess.run([exe, "-c", DRIVER], input=payload, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{full}: {proc.stderr}")
        for (name, src, mver, mal, exp), r in zip(jobs, json.loads(proc.stdout), strict=True):
            fname = f"{name}.py{short}.bin"
            (OUT / fname).write_bytes(bytes.fromhex(r.pop("hex")))
            r.pop("name")
            entries.append(
                {
                    "file": fname,
                    "fixture": name,
                    "python": short,
                    "layout": layout(ver),
                    "marshal_version": mver,
                    "source": src,
                    "malicious": mal,
                    "expect_calls": exp,
                    **r,
                }
            )
    manifest = {"generator": "scripts/make_marshal_fixtures.py", "fixtures": entries}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(entries)} fixtures, {total} bytes total")


if __name__ == "__main__":
    main()
