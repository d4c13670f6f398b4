"""HDF5 files: Keras 2 / tf.keras / Keras 3 legacy ``.h5`` models and weights files.

Only the structure is read: root attributes (``model_config``,
``training_config``, ``keras_version``, ``backend``) whose size is checked
before reading, and the link / dataset tree (external links, soft links,
external storage, virtual datasets, declared shapes).  Dataset contents are
never read and links are never followed out of the file.  h5py is imported
lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelxray import native as _native
from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import parse_json_text
from modelxray.model import Location, Severity
from modelxray.rules import keras as rules
from modelxray.scanning import Reading

if TYPE_CHECKING:
    from modelxray.scanning import Sink

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# A user block shifts the superblock to 512, 1024, 2048, … bytes.
_MAX_USERBLOCK_PROBE = 1 << 20

CONFIG_ATTRS = ("model_config", "training_config")

# A dataset declaring more than this many bytes of data is a shape bomb when its file is this
# many times smaller (Keras weights are stored uncompressed; a loader allocates the full shape).
_SHAPE_BOMB_RATIO = 1000
_MAX_SOFT_LINK_HOPS = 32


def find_superblock(artifact: Artifact, head: bytes) -> int | None:
    if head[:8] == HDF5_MAGIC:
        return 0
    offset = 512
    while offset < min(artifact.size, _MAX_USERBLOCK_PROBE):
        if offset + 8 <= len(head):
            probe = head[offset : offset + 8]
        else:
            with artifact.open() as f:
                f.seek(offset)
                probe = f.read(8)
        if probe == HDF5_MAGIC:
            return offset
        offset *= 2
    return None


def attr_text(value: Any) -> str | None:
    """h5py returns str, bytes, numpy.bytes_ or small arrays of those."""
    if not isinstance(value, (bytes, str)) and getattr(value, "shape", None) in ((), (1,)):
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return None


class Hdf5Reader(FormatReader):
    name = "hdf5"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 60 if find_superblock(artifact, head) is not None else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        import h5py  # noqa: F401 - loaded before the fork, so the child starts warm

        from modelxray.analysis.keras_config import KerasDoc
        from modelxray.formats.keras_findings import report_config

        texts = self._native_part(artifact, ctx)
        version = texts.get("keras_version") or artifact.facts.get("keras_version")
        configs = [k for k in texts if k in CONFIG_ATTRS or texts[k].lstrip().startswith("{")]
        if artifact.depth == 0 and any(k in CONFIG_ATTRS for k in configs):
            ctx.add_format("keras-h5")
        for key in configs:
            try:
                doc = parse_json_text(texts[key], f"attribute {key}")
            except ValueError:
                if key in CONFIG_ATTRS:
                    raise
                continue  # some other attribute that merely starts with a brace
            loc = artifact.location.child(f"attr:{key}")
            generation = (
                "tf.keras" if texts.get("keras_version", "").startswith(("1.", "2.")) else ""
            )
            yield from report_config(
                KerasDoc(
                    loc,
                    doc,
                    keras_version=version,
                    generation=generation,
                    container="h5",
                    facts=artifact.facts,
                    depth=artifact.depth,
                ),
                ctx,
            )

    def _native_part(self, artifact: Artifact, ctx: Sink) -> dict[str, str]:
        """Root attributes and the structure walk, done by libhdf5 in a forked child.

        A corrupt file can make libhdf5 loop forever inside one call, where no Python-level
        budget check runs; the child is killed at the deadline and the file gets a finding.
        """
        from modelxray.model import Finding
        from modelxray.native import NativeFailure, call_in_child, call_in_worker
        from modelxray.rules import scan as scan_rules

        already = len(ctx.findings)

        def work() -> dict[str, Any]:
            with artifact.open() as stream:
                return _walk(stream, artifact, ctx, already)

        timeout = min(ctx.budget.remaining(), ctx.limits.max_native_seconds)
        try:
            if artifact.fs_path:
                # A file on disk: the standing worker opens it by path (no fork per file).
                done = call_in_worker("hdf5-walk", _walk_request(artifact, ctx), timeout)
            else:
                done = call_in_child(work, timeout)
        except NativeFailure as exc:
            if exc.error == "BudgetExceeded":
                raise BudgetExceeded(exc.limit or "limit", exc.detail) from None
            if exc.kind == "timeout":
                raise BudgetExceeded("max_native_seconds", f"libhdf5: {exc.detail}") from None
            if exc.kind == "crash":
                ctx.report(
                    scan_rules.ISOLATED_FAILURE,
                    artifact.location,
                    f"the HDF5 library crashed on this file ({exc.detail})",
                    {"format": "hdf5", "failure": exc.detail},
                )
                return {}
            raise RuntimeError(f"{exc.error}: {exc.detail}") from None
        for d in done["findings"]:
            ctx.add_finding(Finding.from_dict(d))
        return {str(k): str(v) for k, v in done["texts"].items()}

    @staticmethod
    def _root_texts(f: Any, ctx: Sink) -> dict[str, str]:
        attrs = f.attrs
        texts: dict[str, str] = {}
        for key in list(attrs.keys())[:1000]:
            aid = attrs.get_id(key)
            try:
                size = aid.get_storage_size()
            except RuntimeError:  # libhdf5 reports 0 bytes (an empty value) as an error
                size = aid.get_space().get_simple_extent_npoints() * aid.get_type().get_size()
            if size > ctx.limits.max_attribute_bytes:
                raise BudgetExceeded(
                    "max_attribute_bytes", f"root attribute {key!r} holds {size} bytes"
                )
            try:
                value = attrs[key]
            except (TypeError, ValueError, OSError, RuntimeError):
                if key in CONFIG_ATTRS:
                    raise  # the loader reads this one: not reading it is a failure
                # a value h5py cannot convert (a time or exotic float type): no h5py-based
                # loader can read it either, so it holds no config anyone loads
                continue
            text = attr_text(value)
            if text is not None:
                texts[key] = text
        return texts


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _walk_request(artifact: Artifact, ctx: Sink) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "fs_path": artifact.fs_path,
        "path": artifact.location.path,
        "inner": list(artifact.location.inner),
        "name": artifact.name,
        "depth": artifact.depth,
        "keras_version": artifact.facts.get("keras_version"),
        "limits": asdict(ctx.limits),
    }


def _walk_in_worker(args: dict[str, Any]) -> dict[str, Any]:
    """The standing native worker's side of :meth:`Hdf5Reader._native_part`."""
    from modelxray.budget import Limits
    from modelxray.scanning import Collector

    ctx = Collector(Limits(**args["limits"]))
    artifact = Artifact.from_file(args["fs_path"], display=args["path"])
    artifact.location = Location(args["path"], tuple(args["inner"]))
    artifact.depth = args["depth"]
    if args["keras_version"]:
        artifact.facts = {"keras_version": args["keras_version"]}
    return _walk(args["fs_path"], artifact, ctx, 0)


def _walk(source: Any, artifact: Artifact, ctx: Sink, since: int) -> dict[str, Any]:
    """libhdf5's part, run in a child: root attribute texts and the structure walk's findings
    (those reported after the first ``since``), as JSON-ready data for the parent."""
    import h5py

    with h5py.File(source, "r") as f:
        texts = Hdf5Reader._root_texts(f, ctx)
        version = texts.get("keras_version") or artifact.facts.get("keras_version")
        keras = _keras_structure(f, artifact)
        _StructureWalk(f, artifact, ctx, version, keras).run()
    return {"texts": texts, "findings": [x.to_dict() for x in ctx.findings[since:]]}


# What Keras's HDF5 loaders read: root attributes (legacy ``load_model``/``load_weights``) and
# root groups (Keras 2 ``model_weights``; Keras 3 ``.weights.h5``: ``layers``/``vars``).
_KERAS_ROOT_ATTRS = frozenset(
    {*CONFIG_ATTRS, "keras_version", "backend", "layer_names", "weight_names"}
)
_KERAS_ROOT_GROUPS = frozenset({"model_weights", "layers", "vars", "optimizer", "_layer_names"})


def _keras_structure(f: Any, artifact: Artifact) -> bool:
    """Whether a Keras loader would read this file as a model or its weights (a file inside
    a container, such as a ``.keras`` archive's weights, always counts)."""
    if artifact.depth > 0 or artifact.facts.get("keras_version"):
        return True
    return bool(_KERAS_ROOT_ATTRS & set(f.attrs.keys()) or _KERAS_ROOT_GROUPS & set(f.keys()))


class _StructureWalk:
    """Every link of the file, judged without following any link out of it.

    Group members are listed by name and each link is looked at with ``getlink=True``, which
    returns the link itself (hard, soft or external) without resolving it; only hard links are
    opened.  Datasets are judged from their creation property list and dataspace.
    """

    def __init__(
        self, f: Any, artifact: Artifact, ctx: Sink, version: str | None, keras: bool
    ) -> None:
        self.f = f
        self.keras = keras
        self.artifact = artifact
        self.ctx = ctx
        self.version = version
        self.count = 0
        self.seen: set[tuple[int, int]] = set()

    def _loc(self, name: str) -> Location:
        return self.artifact.location.child(f"hdf5:{name}")

    def _evidence(self, cve: str, **extra: Any) -> dict[str, Any]:
        from modelxray.analysis import keras_versions

        return {**extra, **keras_versions.cve_evidence(cve, self.version)}

    def _reach(self, message: str) -> tuple[str, Severity | None]:
        """A reference out of the file is the rule's severity where Keras reads the file;
        in an HDF5 file with no Keras structure it is what h5py follows when data is read
        (a file read, no code): medium."""
        if self.keras:
            return message, None
        return f"{message} (no Keras structure: read only when h5py reads that data)", (
            Severity.MEDIUM
        )

    def run(self) -> None:
        import h5py

        stack: list[tuple[Any, str]] = [(self.f, "/")]
        while stack:
            group, gpath = stack.pop()
            names = list(group.keys())
            for name in names:
                self.count += 1
                if self.count > self.ctx.limits.max_hdf5_objects:
                    raise BudgetExceeded(
                        "max_hdf5_objects", f"file holds more than {self.count - 1} links"
                    )
                self.ctx.budget.tick()
                # h5py gives a name that is not valid UTF-8 as bytes: label it, open it as given.
                label = name if isinstance(name, str) else _text(name)
                path = gpath.rstrip("/") + "/" + label
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    self._external_link(path, link)
                elif isinstance(link, h5py.SoftLink):
                    self._soft_link(path, gpath, _text(link.path))
                elif isinstance(link, h5py.HardLink):
                    obj = group[name]
                    info = h5py.h5o.get_info(obj.id)
                    key = (info.fileno, info.addr)
                    if key in self.seen:
                        continue  # a second hard link to an object already walked (or a cycle)
                    self.seen.add(key)
                    if isinstance(obj, h5py.Group):
                        stack.append((obj, path))
                    elif isinstance(obj, h5py.Dataset):
                        self._dataset(path, obj)
                else:  # user-defined link class: HDF5 resolves it with a plugin
                    self.ctx.report(
                        rules.HDF5_EXTERNAL_LINK,
                        self._loc(path),
                        f"link {path!r} is of an unknown (user-defined) class",
                        self._evidence("CVE-2026-1669", link_type=type(link).__name__),
                    )

    def _external_link(self, path: str, link: Any) -> None:
        filename = _text(link.filename)
        target = _text(link.path)
        message, severity = self._reach(
            f"external link {path!r} points to {target!r} in file {filename!r}"
        )
        self.ctx.report(
            rules.HDF5_EXTERNAL_LINK,
            self._loc(path),
            message,
            self._evidence("CVE-2026-1669", link=path, file=filename[:500], target=target[:500]),
            severity=severity,
        )

    def _soft_link(self, path: str, gpath: str, target: str) -> None:
        problem = self._resolve_soft(gpath, target)
        if problem is None:
            return
        self.ctx.report(
            rules.HDF5_SOFT_LINK,
            self._loc(path),
            f"soft link {path!r} -> {target!r} {problem}",
            self._evidence("CVE-2026-1669", link=path, target=target[:500], problem=problem),
        )

    def _resolve_soft(self, gpath: str, target: str) -> str | None:
        """Walk a soft link's target one link at a time; never open an external link."""
        import h5py

        hops = 0
        pending = target
        base = gpath
        while True:
            hops += 1
            if hops > _MAX_SOFT_LINK_HOPS:
                return f"goes through more than {_MAX_SOFT_LINK_HOPS} soft links (loop)"
            group: Any = self.f if pending.startswith("/") else self.f[base]
            parts = [p for p in pending.split("/") if p and p != "."]
            if not parts:
                return None
            cur = "/" if pending.startswith("/") else base
            redirected = False
            for i, part in enumerate(parts):
                if part == "..":
                    return "uses '..', which HDF5 does not resolve (dangling)"
                if not isinstance(group, h5py.Group) or part not in group:
                    return "dangles (its target does not exist in this file)"
                link = group.get(part, getlink=True)
                cur = cur.rstrip("/") + "/" + part
                if isinstance(link, h5py.ExternalLink):
                    return f"leads through external link {cur!r} into {_text(link.filename)!r}"
                if isinstance(link, h5py.SoftLink):
                    rest = "/".join(parts[i + 1 :])
                    sub = _text(link.path)
                    pending = sub + ("/" + rest if rest else "")
                    base = cur.rsplit("/", 1)[0] or "/"
                    redirected = True
                    break
                if not isinstance(link, h5py.HardLink):
                    return "leads through a user-defined link"
                group = group[part]
            if not redirected:
                return None

    def _dataset(self, path: str, dset: Any) -> None:
        dcpl = dset.id.get_create_plist()
        count = dcpl.get_external_count()
        if count:
            files = [dcpl.get_external(i) for i in range(min(count, 100))]
            shown = [(_text(n)[:300], int(o), int(sz)) for n, o, sz in files]
            message, severity = self._reach(
                f"dataset {path!r} stores its data in {count} external file(s): "
                f"{', '.join(repr(n) for n, _, _ in shown[:5])}"
            )
            self.ctx.report(
                rules.HDF5_EXTERNAL_STORAGE,
                self._loc(path),
                message,
                self._evidence("CVE-2026-1669", dataset=path, external=[list(x) for x in shown]),
                severity=severity,
            )
        if dset.is_virtual:
            sources = dset.virtual_sources()[:1000]
            outside = sorted({_text(s.file_name) for s in sources if _text(s.file_name) != "."})
            if outside:
                message, severity = self._reach(
                    f"virtual dataset {path!r} maps data from "
                    f"{', '.join(repr(n[:200]) for n in outside[:5])}"
                )
                self.ctx.report(
                    rules.HDF5_VIRTUAL_DATASET,
                    self._loc(path),
                    message,
                    self._evidence(
                        "CVE-2026-1669", dataset=path, source_files=[n[:500] for n in outside[:50]]
                    ),
                    severity=severity,
                )
        shape = dset.shape
        if shape is None:
            return
        elements = 1
        for n in shape:
            elements *= int(n)
        # The stored type's size, whether or not NumPy has an equivalent (time types,
        # quad precision): h5py cannot read those, but the declared size still counts.
        itemsize = int(dset.id.get_type().get_size())
        declared = elements * itemsize
        limit = self.ctx.limits.max_hdf5_declared_bytes
        size = max(self.artifact.size, 1)
        if declared > limit or (declared > (1 << 30) and declared > size * _SHAPE_BOMB_RATIO):
            self.ctx.report(
                rules.HDF5_SHAPE_BOMB,
                self._loc(path),
                f"dataset {path!r} declares shape {tuple(shape)} x "
                f"{itemsize} bytes = {declared} bytes in a "
                f"{self.artifact.size}-byte file",
                self._evidence(
                    "CVE-2026-0897",
                    dataset=path,
                    shape=[int(n) for n in shape],
                    itemsize=itemsize,
                    declared_bytes=declared,
                    stored_bytes=int(dset.id.get_storage_size()),
                    file_bytes=self.artifact.size,
                ),
            )


register(Hdf5Reader())
_native.register("hdf5-walk", _walk_in_worker)
