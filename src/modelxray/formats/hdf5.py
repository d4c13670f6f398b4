"""HDF5 files: Keras 2 / tf.keras / Keras 3 legacy ``.h5`` models and weights files.

Only the structure is read, in-process, by the bounded pure-Python reader in
:mod:`modelxray.formats.hdf5_struct` (no libhdf5, no fork, no worker): root attributes
(``model_config``, ``training_config``, ``keras_version``, ``backend``) whose size is checked
before reading, and the link / dataset tree (external links, soft links, external storage,
virtual datasets, declared shapes).  Dataset contents are never read and links are never
followed out of the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import parse_json_text
from modelxray.formats.registry import find_hdf5_superblock
from modelxray.model import Location, Severity
from modelxray.rules import keras as rules
from modelxray.scanning import Reading

if TYPE_CHECKING:
    from modelxray.formats.hdf5_struct import Hdf5File, Link, ObjectHeader
    from modelxray.scanning import Sink

CONFIG_ATTRS = ("model_config", "training_config")
# h5py lists at most this many root attributes' values here (the rest are never config).
_MAX_ROOT_ATTRS = 1000

# A dataset declaring more than this many bytes of data is a shape bomb when its file is this
# many times smaller (Keras weights are stored uncompressed; a loader allocates the full shape).
_SHAPE_BOMB_RATIO = 1000
_MAX_SOFT_LINK_HOPS = 32


class Hdf5Reader(FormatReader):
    name = "hdf5"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 60 if find_hdf5_superblock(artifact, head) is not None else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.analysis.keras_config import KerasDoc
        from modelxray.formats.keras_findings import report_config

        texts = _walk(artifact, ctx)
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


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _walk(artifact: Artifact, ctx: Sink) -> dict[str, str]:
    """Root attribute texts, after the structure walk has reported what it found."""
    from modelxray.formats.hdf5_struct import Hdf5File, Hdf5FormatError

    at = find_hdf5_superblock(artifact, artifact.head())
    if at is None:
        raise Hdf5FormatError("no HDF5 superblock")
    with artifact.open() as stream:
        h5 = Hdf5File(stream, artifact.size, at, ctx.limits, ctx.budget)
        root = h5.header(h5.root)
        if root.kind != "group":
            raise Hdf5FormatError("the root object is not a group")
        texts = _root_texts(h5, root)
        version = texts.get("keras_version") or artifact.facts.get("keras_version")
        keras = _keras_structure(h5, root, artifact)
        _StructureWalk(h5, root, artifact, ctx, version, keras).run()
    return texts


def _root_texts(h5: Hdf5File, root: ObjectHeader) -> dict[str, str]:
    """The root attributes h5py reads as one string (each checked against
    ``max_attribute_bytes`` before its value is read)."""
    from modelxray.formats.hdf5_struct import Hdf5FormatError

    attrs = sorted(h5.attributes(root), key=lambda a: a.name)[:_MAX_ROOT_ATTRS]
    texts: dict[str, str] = {}
    for attr in attrs:
        key = _text(attr.name)
        try:
            text = h5.attribute_text(attr)
        except Hdf5FormatError:
            if key in CONFIG_ATTRS:
                raise  # the loader reads this one: not reading it is a failure
            # a value no reader can fetch (a corrupt heap reference): no h5py-based loader
            # can read it either, so it holds no config anyone loads
            continue
        if text is not None:
            texts[key] = text
    return texts


# What Keras's HDF5 loaders read: root attributes (legacy ``load_model``/``load_weights``) and
# root groups (Keras 2 ``model_weights``; Keras 3 ``.weights.h5``: ``layers``/``vars``).
_KERAS_ROOT_ATTRS = frozenset(
    {*CONFIG_ATTRS, "keras_version", "backend", "layer_names", "weight_names"}
)
_KERAS_ROOT_GROUPS = frozenset({"model_weights", "layers", "vars", "optimizer", "_layer_names"})


def _keras_structure(h5: Hdf5File, root: ObjectHeader, artifact: Artifact) -> bool:
    """Whether a Keras loader would read this file as a model or its weights (a file inside
    a container, such as a ``.keras`` archive's weights, always counts)."""
    if artifact.depth > 0 or artifact.facts.get("keras_version"):
        return True
    names = {_text(a.name) for a in h5.attributes(root)}
    links = {_text(k.name) for k in h5.links(root)}
    return bool(_KERAS_ROOT_ATTRS & names or _KERAS_ROOT_GROUPS & links)


class _StructureWalk:
    """Every link of the file, judged without following any link out of it.

    Group members are listed by name and each link is looked at as it is stored (hard, soft,
    external or user-defined) without resolving it; only hard links are followed, each object
    once.  Datasets are judged from their layout, External Data Files message and dataspace.
    """

    def __init__(
        self,
        h5: Hdf5File,
        root: ObjectHeader,
        artifact: Artifact,
        ctx: Sink,
        version: str | None,
        keras: bool,
    ) -> None:
        self.h5 = h5
        self.root = root
        self.keras = keras
        self.artifact = artifact
        self.ctx = ctx
        self.version = version
        self.count = 0
        self.seen: set[int] = set()

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
        from modelxray.formats.hdf5_struct import LINK_EXTERNAL, LINK_HARD, LINK_SOFT

        h5, seen = self.h5, self.seen
        max_objects = self.ctx.limits.max_hdf5_objects
        tick = self.ctx.budget.tick
        stack: list[tuple[ObjectHeader, str]] = [(self.root, "/")]
        while stack:
            group, gpath = stack.pop()
            prefix = gpath.rstrip("/") + "/"
            for link in h5.links(group):
                self.count += 1
                if self.count > max_objects:
                    raise BudgetExceeded(
                        "max_hdf5_objects", f"file holds more than {self.count - 1} links"
                    )
                tick()
                path = prefix + _text(link.name)
                kind = link.kind
                if kind == LINK_HARD:
                    if link.address in seen:
                        continue  # a second hard link to an object already walked (or a cycle)
                    seen.add(link.address)
                    obj = h5.header(link.address)
                    if obj.kind == "group":
                        stack.append((obj, path))
                    elif obj.kind == "dataset":
                        self._dataset(path, obj)
                elif kind == LINK_EXTERNAL:
                    self._external_link(path, link)
                elif kind == LINK_SOFT:
                    self._soft_link(path, group, gpath, link.target)
                else:  # user-defined link class: HDF5 resolves it with a plugin
                    self.ctx.report(
                        rules.HDF5_EXTERNAL_LINK,
                        self._loc(path),
                        f"link {path!r} is of an unknown (user-defined) class {link.link_type}",
                        self._evidence(
                            "CVE-2026-1669", link=path, link_type=f"user-defined {link.link_type}"
                        ),
                    )

    def _external_link(self, path: str, link: Link) -> None:
        filename = _text(link.filename)
        target = _text(link.target)
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

    def _soft_link(self, path: str, group: ObjectHeader, gpath: str, target: bytes) -> None:
        problem = self._resolve_soft(group, gpath, target)
        if problem is None:
            return
        text = _text(target)
        self.ctx.report(
            rules.HDF5_SOFT_LINK,
            self._loc(path),
            f"soft link {path!r} -> {text!r} {problem}",
            self._evidence("CVE-2026-1669", link=path, target=text[:500], problem=problem),
        )

    def _resolve_soft(self, base: ObjectHeader, gpath: str, target: bytes) -> str | None:
        """Walk a soft link's target one link at a time; never open an external link."""
        from modelxray.formats.hdf5_struct import LINK_EXTERNAL, LINK_HARD, LINK_SOFT

        hops = 0
        pending = target
        base_path = gpath
        while True:
            hops += 1
            if hops > _MAX_SOFT_LINK_HOPS:
                return f"goes through more than {_MAX_SOFT_LINK_HOPS} soft links (loop)"
            absolute = pending.startswith(b"/")
            group = self.root if absolute else base
            parts = [p for p in pending.split(b"/") if p and p != b"."]
            if not parts:
                return None
            cur = "/" if absolute else base_path
            redirected = False
            for i, part in enumerate(parts):
                self.h5.charge()
                if part == b"..":
                    return "uses '..', which HDF5 does not resolve (dangling)"
                link = self.h5.member(group, part)
                if link is None:
                    return "dangles (its target does not exist in this file)"
                cur = cur.rstrip("/") + "/" + _text(part)
                if link.kind == LINK_EXTERNAL:
                    return f"leads through external link {cur!r} into {_text(link.filename)!r}"
                if link.kind == LINK_SOFT:
                    rest = b"/".join(parts[i + 1 :])
                    pending = link.target + (b"/" + rest if rest else b"")
                    base = group
                    base_path = cur.rsplit("/", 1)[0] or "/"
                    redirected = True
                    break
                if link.kind != LINK_HARD:
                    return "leads through a user-defined link"
                group = self.h5.header(link.address)
            if not redirected:
                return None

    def _dataset(self, path: str, dset: ObjectHeader) -> None:
        from modelxray.formats.hdf5_struct import LAYOUT_VIRTUAL, Hdf5FormatError

        h5 = self.h5
        layout = h5.layout(dset)
        space = h5.dataspace(dset)
        dtype = h5.datatype(dset)
        if layout is None or space is None or dtype is None:
            raise Hdf5FormatError(f"dataset {path!r} has no layout, dataspace or datatype")
        files = h5.external_files(dset)
        if files:
            shown = [(_text(n)[:300], int(o), int(sz)) for n, o, sz in files[:100]]
            message, severity = self._reach(
                f"dataset {path!r} stores its data in {len(files)} external file(s): "
                f"{', '.join(repr(n) for n, _, _ in shown[:5])}"
            )
            self.ctx.report(
                rules.HDF5_EXTERNAL_STORAGE,
                self._loc(path),
                message,
                self._evidence("CVE-2026-1669", dataset=path, external=[list(x) for x in shown]),
                severity=severity,
            )
        if layout.cls == LAYOUT_VIRTUAL:
            sources = h5.virtual_sources(layout)[:1000]
            outside = sorted({_text(f) for f, _ in sources if f != b"."})
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
        shape = space.shape
        if shape is None:
            return
        elements = 1
        for n in shape:
            elements *= n
        # The stored type's size, whether or not NumPy has an equivalent (time types,
        # quad precision): h5py cannot read those, but the declared size still counts.
        itemsize = dtype.memory_size
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
                    shape=list(shape),
                    itemsize=itemsize,
                    declared_bytes=declared,
                    stored_bytes=h5.storage_size(layout, shape, dtype.size, bool(files)),
                    file_bytes=self.artifact.size,
                ),
            )


register(Hdf5Reader())
