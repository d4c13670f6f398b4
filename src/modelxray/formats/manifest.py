"""Dependency manifests a model repository ships: what installing its environment would fetch.

Three readers, each judging entries with the one requirement judge
(:mod:`modelxray.analysis.requirements`, shared with a notebook's ``%pip install``):

* :class:`RequirementsReader` -- pip requirements files (MLflow's ``requirements.txt``, a
  TorchServe archive's requirements file, ``requirements-*.txt``, ``constraints.txt``).  A
  requirements file has no magic: it is claimed by its name when most of its lines parse as
  requirement lines, or by content alone when every line parses and some line is one only a
  requirements file holds (an index or include option, a URL requirement, pinned versions).
  ``-r``/``-c`` includes are followed within the including file's folder, as pip resolves them.
* :class:`CondaEnvReader` -- conda environment files (``conda.yaml`` as MLflow writes it,
  ``environment.yml``): channels, conda specs and the ``pip:`` list (which conda hands to pip as
  a requirements file beside the environment file); and MLflow's ``python_env.yaml``
  (``build_dependencies`` and ``dependencies``, pip lines).  Read with the bounded YAML subset
  reader of :mod:`modelxray.formats.mlflow` (never a YAML library's object constructor).
* :class:`PyprojectReader` -- ``pyproject.toml``: build requirements, an in-tree build backend
  (``backend-path``) and setuptools ``cmdclass`` (code that runs on ``pip install .``), project
  dependencies and Poetry/uv package sources.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from modelxray.analysis import requirements as judge
from modelxray.artifact import Artifact, Folder
from modelxray.compat import tomllib
from modelxray.formats.base import FormatReader, register
from modelxray.model import FormatName, Judgement, Location, Severity
from modelxray.rules import manifest as rules
from modelxray.scanning import report_judgements

if TYPE_CHECKING:
    from modelxray.scanning import Sink

SNIFF_BYTES = 64 * 1024
_REQUIREMENTS_NAME = re.compile(
    r"(?i)^(?:.*[-_.])?(?:requirements?|reqs|constraints?)(?:[-_.].*)?\.(?:txt|in|pip)$"
)
_CONDA_TOP = re.compile(rb"^dependencies:[ \t]*\r?$", re.M)
_CONDA_SIBLING = re.compile(rb"^(?:channels|name|prefix):", re.M)
_PYTHON_ENV = re.compile(rb"^python:[ \t]*\S", re.M)
_PYTHON_ENV_DEPS = re.compile(rb"^(?:build_)?dependencies:[ \t]*\r?$", re.M)
# The tables of pyproject.toml (PEP 518, 621, 735): a TOML file with one of them is read as one.
_PYPROJECT_TABLE = re.compile(
    rb"^\[\[?[ \t]*(?:build-system|project|dependency-groups|tool\.[\w-]+)[\w.-]*[ \t]*\]", re.M
)


def _text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _report(ctx: Sink, where: Location, judgements: Iterable[Judgement]) -> None:
    report_judgements(ctx, rules.BY_KIND, where, judgements)


class _PipLines:
    """Judges pip requirement lines and follows ``-r``/``-c`` within the starting folder."""

    def __init__(self, ctx: Sink, artifact: Artifact) -> None:
        self.ctx = ctx
        self.root = (
            os.path.dirname(os.path.realpath(artifact.fs_path)) if artifact.fs_path else None
        )
        self.seen: set[str] = {os.path.realpath(artifact.fs_path)} if artifact.fs_path else set()
        # A file read from a remote folder: includes are looked up in that folder (by
        # relative POSIX paths; a store has no links to leave it by).
        self.remote = _remote_folder(artifact)
        if self.remote is not None:
            self.seen.add(artifact.name)

    def text(self, text: str, base: Location, folder: str | None) -> None:
        for line in judge.logical_lines(text):
            self.line(line.text, base.child(f"line:{line.number}"), folder)

    def line(self, text: str, where: Location, folder: str | None) -> None:
        self.ctx.budget.tick()
        entry = judge.parse_line(text)
        _report(self.ctx, where, judge.judge_entry(entry))
        target = entry.include
        if target is not None and folder is not None and self.root is not None:
            self._follow(target, where, folder)
        elif target is not None and folder is not None and self.remote is not None:
            self._follow_remote(target, where, folder)

    def _follow(self, target: str, where: Location, folder: str) -> None:
        path = os.path.realpath(os.path.join(folder, target))
        if self.root is None or not path.startswith(self.root.rstrip(os.sep) + os.sep):
            return  # outside the folder of the first file: the include verdict said so
        if path in self.seen or not os.path.isfile(path):
            return
        self._include(path, Artifact.from_file(path), target, where, os.path.dirname(path))

    def _follow_remote(self, target: str, where: Location, folder: str) -> None:
        import posixpath

        assert self.remote is not None
        path = posixpath.normpath(posixpath.join(folder, target.replace("\\", "/")))
        if path.startswith(("../", "/")) or path in ("..", "."):
            return  # outside the folder of the first file: the include verdict said so
        if path in self.seen:
            return
        included = self.remote.file(path)
        if included is None:
            return
        self._include(path, included, target, where, posixpath.dirname(path))

    def _include(
        self, path: str, included: Artifact, target: str, where: Location, folder: str
    ) -> None:
        self.seen.add(path)
        self.ctx.budget.require(
            len(self.seen) <= self.ctx.limits.max_manifest_includes + 1,
            "max_manifest_includes",
            f"more than {self.ctx.limits.max_manifest_includes} included requirements files",
        )
        data = included.read(self.ctx.limits.max_python_source_bytes, "requirements file")
        text = _text(data)
        if text is None:
            _report(
                self.ctx,
                where,
                [
                    Judgement(
                        "unparsed",
                        f"included file {target} is not text: pip cannot read it",
                        {"path": target},
                        severity=Severity.MEDIUM,
                    )
                ],
            )
            return
        self.text(text, where.child(target), folder)


def _remote_folder(artifact: Artifact) -> Folder | None:
    """The remote folder a top-level file was read from (``sources.remote``), if any."""
    from modelxray.artifact import LocalFolder, loader_folder

    if artifact.fs_path is not None:
        return None
    folder = loader_folder(artifact, through_wrapper=False)
    return None if folder is None or isinstance(folder, LocalFolder) else folder


def _folder(artifact: Artifact) -> str | None:
    """Where includes resolve from: the file's folder on disk, or ``""`` (the folder itself)
    in a remote store."""
    if artifact.fs_path:
        return os.path.dirname(os.path.realpath(artifact.fs_path))
    return "" if _remote_folder(artifact) is not None else None


# -- requirements files ---------------------------------------------------------------------------
def _strong(entry: judge.Entry) -> bool:
    """A line only a requirements file holds: an index or include option, a URL or VCS
    requirement (a bare path is not: any text with a slash parses as one)."""
    if entry.kind == "option":
        return entry.option in ("--index-url", "--extra-index-url", "--find-links",
                                "--requirement", "--constraint")  # fmt: skip
    return entry.kind == "requirement" and "://" in entry.value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _parsed(entry: judge.Entry) -> bool:
    return entry.kind != "unparsed" and not (entry.kind == "option" and not entry.option)


def requirements_score(name: str, text: str) -> int:
    if _REQUIREMENTS_NAME.match(name):
        named = [judge.parse_line(line.text) for line in judge.logical_lines(text)]
        return 30 if sum(map(_parsed, named)) * 2 >= len(named) else 0
    # Unnamed: every line must parse, so the first that does not ends the question.
    entries: list[judge.Entry] = []
    for line in judge.logical_lines(text):
        entry = judge.parse_line(line.text)
        if not _parsed(entry):
            return 0
        entries.append(entry)
    if not entries or _CONTROL.search(text):
        return 0
    pinned = sum(1 for e in entries if e.pinned and not e.value)
    if any(_strong(e) for e in entries) or (pinned >= 2 and pinned * 2 >= len(entries)):
        return 20
    return 0


class RequirementsReader(FormatReader):
    name = FormatName.PIP_REQUIREMENTS

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        named = bool(_REQUIREMENTS_NAME.match(artifact.name))
        if not named and artifact.size > SNIFF_BYTES:
            return 0
        text = _text(artifact.head(SNIFF_BYTES) if named else artifact.read(SNIFF_BYTES))
        if text is None:
            return 0
        if named and artifact.size > SNIFF_BYTES:
            text = text.rsplit("\n", 1)[0]  # a cut last line is not judged at sniff time
        return requirements_score(artifact.name, text)

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(self.name)
        data = artifact.read(ctx.limits.max_python_source_bytes, "requirements file")
        text = data.decode("utf-8-sig", errors="replace")
        _PipLines(ctx, artifact).text(text, artifact.location, _folder(artifact))


# -- conda environments and MLflow python_env.yaml ------------------------------------------------
class CondaEnvReader(FormatReader):
    name = FormatName.CONDA_ENV

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if b"\x00" in head or head.lstrip()[:1] in (b"{", b"["):
            return 0
        if _CONDA_TOP.search(head) and _CONDA_SIBLING.search(head):
            return 35
        if _PYTHON_ENV.search(head) and _PYTHON_ENV_DEPS.search(head):
            return 35
        return 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        from modelxray.formats.mlflow import YamlSubsetError, parse_yaml_subset
        from modelxray.formats.yaml_config import looks_like_config, report_config_yaml

        data = artifact.read(ctx.limits.max_python_source_bytes, "environment file")
        if looks_like_config(data):  # also loadable by Hydra/OmegaConf: judged as that too
            report_config_yaml(artifact, ctx)
        doc = parse_yaml_subset(data.decode("utf-8-sig", errors="replace"))
        if not isinstance(doc, dict):
            raise YamlSubsetError("an environment file is a mapping")
        pip = _PipLines(ctx, artifact)
        folder = _folder(artifact)
        base = artifact.location
        if "python" in doc and ("build_dependencies" in doc or "channels" not in doc):
            if artifact.depth == 0:
                ctx.add_format(self.name)
                ctx.add_format(FormatName.MLFLOW_PYTHON_ENV)
            for key in ("build_dependencies", "dependencies"):
                for i, item in _items(doc.get(key)):
                    self._pip_item(pip, item, base.child(f"{key}[{i}]"), folder)
            return
        if artifact.depth == 0:
            ctx.add_format(self.name)
        for i, channel in _items(doc.get("channels")):
            where = base.child(f"channels[{i}]")
            if isinstance(channel, str):
                _report(ctx, where, judge.judge_conda_channel(channel))
            else:
                _report(ctx, where, [_unparsed(f"channel {channel!r} is not a name")])
        for i, dep in _items(doc.get("dependencies")):
            ctx.budget.tick()
            where = base.child(f"dependencies[{i}]")
            if isinstance(dep, str):
                _report(ctx, where, judge.judge_conda_spec(dep))
            elif isinstance(dep, dict) and set(dep) == {"pip"}:
                for j, item in _items(dep["pip"]):
                    self._pip_item(pip, item, where.child(f"pip[{j}]"), folder)
            else:
                _report(ctx, where, [_unparsed(f"dependency {dep!r} is not a package spec")])
        variables = doc.get("variables")
        if isinstance(variables, dict):
            for key, value in variables.items():
                option = _PIP_VARIABLES.get(str(key))
                if option and isinstance(value, str):
                    entry = judge.Entry(f"{key}={value}", "option", option, value)
                    _report(ctx, base.child(f"variables.{key}"), judge.judge_entry(entry))

    @staticmethod
    def _pip_item(pip: _PipLines, item: Any, where: Location, folder: str | None) -> None:
        if isinstance(item, (str, int, float)):
            pip.line(str(item), where, folder)
        else:
            _report(pip.ctx, where, [_unparsed(f"pip entry {item!r} is not a requirement line")])


# Environment variables pip reads as its options (pip's PIP_<OPTION> configuration).
_PIP_VARIABLES = {
    "PIP_INDEX_URL": "--index-url",
    "PIP_EXTRA_INDEX_URL": "--extra-index-url",
    "PIP_FIND_LINKS": "--find-links",
    "PIP_TRUSTED_HOST": "--trusted-host",
}


def _items(value: Any) -> Iterator[tuple[int, Any]]:
    if isinstance(value, list):
        yield from enumerate(value)
    elif value is not None:
        yield 0, value


def _unparsed(message: str) -> Judgement:
    return Judgement("unparsed", message, {}, severity=Severity.MEDIUM)


# -- pyproject.toml -------------------------------------------------------------------------------


class PyprojectReader(FormatReader):
    name = FormatName.PYPROJECT

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if b"\x00" in head or not _PYPROJECT_TABLE.search(head) or artifact.size > SNIFF_BYTES * 16:
            return 0
        text = _text(artifact.read(SNIFF_BYTES * 16))
        if text is None:
            return 0
        try:
            tomllib().loads(text)
        except Exception:  # noqa: BLE001 - anything tomllib refuses is not a pyproject to us
            return 0
        return 30

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(self.name)
        data = artifact.read(ctx.limits.max_python_source_bytes, "pyproject.toml")
        doc = tomllib().loads(data.decode("utf-8-sig"))
        pip = _PipLines(ctx, artifact)
        base = artifact.location
        build = doc.get("build-system")
        if isinstance(build, dict):
            self._specs(pip, build.get("requires"), base.child("build-system.requires"))
            backend_path = build.get("backend-path")
            if backend_path:
                ctx.report(
                    rules.BUILD_CODE,
                    base.child("build-system.backend-path"),
                    f"the build backend {build.get('build-backend')!r} is imported from the "
                    f"repository itself ({backend_path!r}): building or pip-installing the "
                    "repository runs that code",
                    {
                        "build-backend": str(build.get("build-backend")),
                        "backend-path": [str(p) for p in _list(backend_path)],
                    },  # fmt: skip
                )
        project = doc.get("project")
        if isinstance(project, dict):
            self._specs(pip, project.get("dependencies"), base.child("project.dependencies"))
            optional = project.get("optional-dependencies")
            if isinstance(optional, dict):
                for extra, specs in optional.items():
                    where = base.child(f"project.optional-dependencies.{extra}")
                    self._specs(pip, specs, where)
        groups = doc.get("dependency-groups")
        if isinstance(groups, dict):
            for group, specs in groups.items():
                if isinstance(specs, list):
                    specs = [s for s in specs if isinstance(s, str)]  # include-group tables
                self._specs(pip, specs, base.child(f"dependency-groups.{group}"))
        tool = doc.get("tool")
        if isinstance(tool, dict):
            self._tools(tool, base, ctx)

    @staticmethod
    def _specs(pip: _PipLines, specs: Any, where: Location) -> None:
        if specs is None:
            return
        if not isinstance(specs, list):
            _report(pip.ctx, where, [_unparsed("a dependency list that is not a list")])
            return
        for i, spec in enumerate(specs):
            item = where.child(f"[{i}]")
            if isinstance(spec, str) and not spec.lstrip().startswith("-"):
                pip.line(spec, item, None)  # PEP 508 strings: never options or includes
            else:
                _report(pip.ctx, item, [_unparsed(f"{spec!r} is not a PEP 508 requirement")])

    @staticmethod
    def _tools(tool: dict[str, Any], base: Location, ctx: Sink) -> None:
        setuptools = tool.get("setuptools")
        if isinstance(setuptools, dict) and setuptools.get("cmdclass"):
            ctx.report(
                rules.BUILD_CODE,
                base.child("tool.setuptools.cmdclass"),
                "setuptools commands are replaced by the repository's own classes: building "
                "or pip-installing the repository runs them",
                {"cmdclass": {str(k): str(v) for k, v in _dict(setuptools["cmdclass"]).items()}},
            )
        sources: list[tuple[str, Any]] = []
        poetry = tool.get("poetry")
        if isinstance(poetry, dict):
            sources += [("tool.poetry.source", s) for s in _list(poetry.get("source"))]
            for table in ("dependencies", "dev-dependencies"):
                _judge_source_table(poetry.get(table), base.child(f"tool.poetry.{table}"), ctx)
            for name, group in _dict(poetry.get("group")).items():
                deps = _dict(group).get("dependencies")
                _judge_source_table(deps, base.child(f"tool.poetry.group.{name}"), ctx)
        uv = tool.get("uv")
        if isinstance(uv, dict):
            sources += [("tool.uv.index", s) for s in _list(uv.get("index"))]
            _judge_source_table(uv.get("sources"), base.child("tool.uv.sources"), ctx)
            for key, option in (("index-url", "--index-url"), ("extra-index-url", None)):
                for url in _list(uv.get(key)):
                    entry = judge.Entry(f"{key} = {url}", "option",
                                        option or "--extra-index-url", str(url))  # fmt: skip
                    _report(ctx, base.child(f"tool.uv.{key}"), judge.judge_entry(entry))
        for where, source in sources:
            url = _dict(source).get("url")
            if isinstance(url, str):
                option = "--index-url" if _dict(source).get("default") else "--extra-index-url"
                entry = judge.Entry(f"{where}: {url}", "option", option, url)
                _report(ctx, base.child(where), judge.judge_entry(entry))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _judge_source_table(table: Any, where: Location, ctx: Sink) -> None:
    """Poetry/uv dependency tables: ``name = {git = …}``, ``{url = …}``, ``{path = …}``."""
    for name, spec in _dict(table).items():
        items = spec if isinstance(spec, list) else [spec]
        for item in items:
            item = _dict(item)
            if isinstance(item.get("git"), str):
                url = item["git"]
                value = url if judge.is_vcs(url) else f"git+{url}"
            elif isinstance(item.get("url"), str):
                value = item["url"]
            elif isinstance(item.get("path"), str):
                value = item["path"] if judge.looks_like_path(item["path"]) else f"./{item['path']}"
            else:
                continue
            entry = judge.Entry(f"{name} = {value}", "requirement", value=value,
                                name=judge.normalise(str(name)))  # fmt: skip
            _report(ctx, where.child(str(name)), judge.judge_entry(entry))


register(RequirementsReader())
register(CondaEnvReader())
register(PyprojectReader())
