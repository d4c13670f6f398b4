"""What a dependency manifest makes pip or conda install, judged (never fetched or installed).

One judge for every place a model repository names packages to install: a requirements file
(MLflow's ``requirements.txt``, a TorchServe archive's ``requirementsFile``), a conda
environment's ``pip:`` list and channels, MLflow's ``python_env.yaml``, ``pyproject.toml``
dependencies, and a notebook's ``%pip install`` (``formats/notebook.py`` asks
:func:`judge_pip_command`), so one requirement spec gets one verdict wherever it appears.

Lines are read as pip reads a requirements file (``pip/_internal/req/req_file.py``): a ``#`` at
the start or after whitespace starts a comment, a trailing backslash joins the next line, a
line starting with ``-`` is an option, anything else a requirement -- a PEP 508 name with
extras, version specifiers and a marker, a ``name @ URL`` direct reference, a URL, a VCS URL
(``git+https://…``) or a local path -- optionally followed by per-requirement options.

Verdicts (kinds, mapped to rules by ``rules/manifest``):

* ``index``: an index, extra index, find-links source or trusted host other than pip's
  default: any name may then come from there (dependency confusion).  Known vendor indexes
  (:data:`VENDOR_INDEXES`) are lower: ``--index-url`` to one replaces PyPI (low), an extra
  index beside PyPI can still be shadowed by version (medium, the torchtriton incident).
* ``remote``: a requirement (or an included requirements file) fetched from a URL or version
  control -- code the scan never sees, built and run on install (high, as a notebook's
  ``%pip install git+…``).
* ``local``: a requirement built from a path in the repository (medium: its build script
  runs; the scan judges it where the path is scanned) or outside it (high).
* ``typosquat``: a name one edit (or one separator) away from a popular project's name and not
  itself a popular name (:mod:`modelxray.analysis._generated.popular_packages`).
* ``include``: ``-r``/``-c`` of another file (info; the reader follows it within the folder).
* ``build-options``: per-requirement options handed to the package's build (medium).
* ``unparsed``: a line that is neither (medium; high when it names a URL).
* ``channel``: a conda channel outside the standard ones (low; a URL: high).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from modelxray.model import Judgement, Severity

# Index roots of vendors whose published install instructions add them to pip; exact roots,
# matched as URL prefixes ending at a path boundary.  Sources: pytorch.org "Get started"
# (``--index-url https://download.pytorch.org/whl/cu121``), NVIDIA's pip instructions
# (``--extra-index-url https://pypi.nvidia.com``), PyG's installation page
# (``-f https://data.pyg.org/whl/torch-2.1.0+cpu.html``), JAX's installation page
# (``-f https://storage.googleapis.com/jax-releases/jax_cuda_releases.html``).
VENDOR_INDEXES: tuple[tuple[str, str], ...] = (
    ("https://download.pytorch.org/whl", "PyTorch"),
    ("https://pypi.nvidia.com", "NVIDIA"),
    ("https://data.pyg.org/whl", "PyG"),
    ("https://storage.googleapis.com/jax-releases", "JAX"),
)

# Standard conda channels: conda's defaults (conda/base/constants.py DEFAULT_CHANNELS and
# the ``defaults`` alias), conda-forge, and the channels of the projects whose install
# instructions name them (PyTorch, NVIDIA, Bioconda).
CONDA_CHANNELS = frozenset(
    {"defaults", "main", "r", "msys2", "free", "anaconda", "conda-forge", "pytorch", "nvidia",
     "bioconda", "pkgs/main", "pkgs/r", "pkgs/msys2", "pkgs/free"}
)  # fmt: skip
CONDA_CHANNEL_HOSTS = ("https://conda.anaconda.org/", "https://repo.anaconda.com/")

# Options pip accepts in a requirements file (req_file.SUPPORTED_OPTIONS), by canonical name.
_OPTION_NAMES = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links",
    "--find-links": "--find-links",
    "--trusted-host": "--trusted-host",
    "-r": "--requirement",
    "--requirement": "--requirement",
    "-c": "--constraint",
    "--constraint": "--constraint",
    "-e": "--editable",
    "--editable": "--editable",
    "--no-index": "--no-index",
    "--no-binary": "--no-binary",
    "--only-binary": "--only-binary",
    "--prefer-binary": "--prefer-binary",
    "--require-hashes": "--require-hashes",
    "--pre": "--pre",
    "--use-feature": "--use-feature",
}
_FLAG_OPTIONS = frozenset({"--no-index", "--prefer-binary", "--require-hashes", "--pre"})
_INDEX_OPTIONS = frozenset({"--index-url", "--extra-index-url", "--find-links", "--trusted-host"})
_INCLUDE_OPTIONS = frozenset({"--requirement", "--constraint"})
# Per-requirement options (req_file.SUPPORTED_OPTIONS_REQ and older pips' --install-option).
_BUILD_OPTIONS = frozenset({"--global-option", "--install-option", "--config-settings", "-C"})
_REQ_OPTION = re.compile(r"\s(--?[A-Za-z][\w-]*)(?:[=\s]+(\"[^\"]*\"|'[^']*'|\S+))?")

_COMMENT = re.compile(r"(^|\s+)#.*$")
_VCS = re.compile(r"^(?:git|hg|svn|bzr)\+", re.I)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
# PEP 508: name [extras] (specifiers | "(" specifiers ")") [; marker]  -- or  name [extras] @ URL
_REQUIREMENT = re.compile(
    rf"^(?P<name>{_NAME})\s*(?:\[\s*(?P<extras>[^\]]*)\])?\s*"
    r"(?:(?P<at>@)\s*(?P<url>\S+)|(?P<spec>\(?\s*(?:(?:===|==|~=|!=|<=|>=|<|>)\s*[\w.*+!-]+\s*,?\s*)*\)?))"
    r"\s*(?:;(?P<marker>.*))?$"
)
_ARCHIVE = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar")
_SEPARATORS = re.compile(r"[-_.]+")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"
TYPO_MIN_LENGTH = 5  # shorter popular names are one edit away from too many real ones


@dataclass(frozen=True)
class Entry:
    """One logical line of a requirements file (or one ``pip install`` argument)."""

    text: str
    kind: str  # "option" | "requirement" | "unparsed"
    option: str = ""  # canonical option name
    value: str = ""  # the option's value, or a URL/path requirement
    name: str = ""  # PEP 503-normalised project name of a named requirement
    pinned: bool = False
    req_options: tuple[tuple[str, str], ...] = field(default=())

    @property
    def include(self) -> str | None:
        """The file a ``-r``/``-c`` line reads, if it is one."""
        return self.value if self.option in _INCLUDE_OPTIONS else None


@dataclass(frozen=True)
class Line:
    number: int  # the physical line the logical line starts on
    text: str


def normalise(name: str) -> str:
    """PEP 503 project-name normalisation (what pip and the index compare)."""
    return _SEPARATORS.sub("-", name).lower()


def logical_lines(text: str) -> Iterator[Line]:
    """Comment-free, continuation-joined, non-blank lines, as pip's line preprocessor yields."""
    start, parts = 0, list[str]()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not parts:
            start = number
        line = _COMMENT.sub("", raw) if not parts or raw.strip() else raw
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        joined = " ".join(p.strip() for p in parts).strip()
        parts = []
        if joined:
            yield Line(start, joined)
    if parts and " ".join(parts).strip():
        yield Line(start, " ".join(p.strip() for p in parts).strip())


def _split_option(text: str) -> tuple[str, str] | None:
    """``--opt=value`` / ``--opt value`` / ``-ivalue`` -> (canonical option, value)."""
    m = re.match(r"^(--[A-Za-z][\w-]*|-[A-Za-z])(?:=|\s+|(?<=^-[A-Za-z]))?(.*)$", text)
    if not m:
        return None
    raw, value = m.group(1), m.group(2).strip()
    return _OPTION_NAMES.get(raw, raw), value


def parse_line(text: str) -> Entry:
    text = text.strip()
    if text.startswith("-"):
        split = _split_option(text)
        if split is None:
            return Entry(text, "unparsed")
        option, value = split
        if option in _FLAG_OPTIONS:
            return Entry(text, "option", option, "")
        if not value and option in _OPTION_NAMES.values():
            return Entry(text, "unparsed", option)
        if option == "--editable":
            spec = _requirement(value)
            return Entry(text, spec.kind, option, spec.value or value, spec.name, spec.pinned)
        return Entry(text, "option", option, _unquote(value))
    return _requirement(text)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _requirement(text: str) -> Entry:
    spec, req_options = text, []
    m = _REQ_OPTION.search(" " + text)
    if m is not None:
        spec = (" " + text)[: m.start()].strip()
        for om in _REQ_OPTION.finditer((" " + text)[m.start() :]):
            req_options.append((om.group(1), _unquote(om.group(2) or "")))
    options = tuple(req_options)
    if not spec:
        return Entry(text, "unparsed", req_options=options)
    if _VCS.match(spec) or _URL.match(spec):
        name = re.search(r"[#&]egg=([\w.-]+)", spec)
        return Entry(text, "requirement", value=spec, name=normalise(name.group(1)) if name
                     else "", req_options=options)  # fmt: skip
    m = _REQUIREMENT.match(spec)
    if m and not looks_like_path(m.group("name")):
        pinned = bool(re.search(r"===|==(?![^,;]*\*)", m.group("spec") or ""))
        url = m.group("url") or ""
        return Entry(text, "requirement", value=url, name=normalise(m.group("name")),
                     pinned=pinned or bool(url), req_options=options)  # fmt: skip
    path = spec.split(";")[0].strip()
    if looks_like_path(path) and not re.search(r"\s", path):
        return Entry(text, "requirement", value=path, req_options=options)
    return Entry(text, "unparsed", req_options=options)


def looks_like_path(spec: str) -> bool:
    """pip's test for a local path or archive (req_install.constructors: _looks_like_path)."""
    return (
        spec.startswith((".", "/", "~"))
        or "/" in spec
        or "\\" in spec
        or spec.lower().endswith(_ARCHIVE)
        or bool(re.match(r"^[A-Za-z]:", spec))
    )


def is_vcs(url: str) -> bool:
    return bool(_VCS.match(url))


def _vendor(url: str) -> str | None:
    for root, who in VENDOR_INDEXES:
        if url == root or url.startswith(root.rstrip("/") + "/") or url == root + "/":
            return who
    return None


@functools.lru_cache(maxsize=1)
def _default_indexes() -> frozenset[str]:
    """pip's own default index, read from pip's source without importing pip
    (``pip/_internal/models/index.py``: ``PyPI = PackageIndex("<url>", …)``, whose simple
    index is ``<url>simple``); empty where pip is not installed (then naming that index is
    judged like any other)."""
    try:
        spec = importlib.util.find_spec("pip")
        if spec is None or not spec.origin:
            return frozenset()
        path = os.path.join(os.path.dirname(spec.origin), "_internal", "models", "index.py")
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, ValueError, ImportError, SyntaxError):
        return frozenset()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "PyPI" for t in node.targets)
            and isinstance(node.value, ast.Call)
            and node.value.args
            and isinstance(node.value.args[0], ast.Constant)
            and isinstance(node.value.args[0].value, str)
        ):
            url = node.value.args[0].value.rstrip("/")
            return frozenset({url, f"{url}/simple"})
    return frozenset()


def _is_default_index(url: str) -> bool:
    return url.rstrip("/") in _default_indexes()


def _inside(path: str) -> bool:
    """A relative path that stays inside the folder it is read from."""
    norm = path.replace("\\", "/")
    if norm.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", norm) or norm.startswith("file:"):
        return False
    return ".." not in norm.split("/")


def _index(entry: Entry) -> Iterator[Judgement]:
    value, option = entry.value, entry.option
    evidence = {"line": entry.text, "option": option, "value": value}
    if option == "--trusted-host":
        yield Judgement(
            "index",
            f"{option} {value}: pip accepts this host without a valid HTTPS certificate",
            evidence,
            severity=Severity.MEDIUM,
        )
        return
    if option == "--find-links" and not _URL.match(value):
        yield from _local(entry, value, "finds packages to install in")
        return
    if _is_default_index(value):
        return
    who = _vendor(value)
    if who is not None:
        extra = option != "--index-url"
        yield Judgement(
            "index",
            f"{option} {value}: {who}'s package index"
            + (
                " beside the default one: a project on both is taken from whichever has the "
                "higher version (dependency confusion)"
                if extra
                else ""
            ),
            {**evidence, "vendor": who},
            severity=Severity.MEDIUM if option == "--extra-index-url" else Severity.LOW,
        )
        return
    yield Judgement(
        "index",
        f"{option} {value}: packages may come from an index the scan cannot see; any name "
        "in this environment can be served from there (dependency confusion)",
        evidence,
        severity=Severity.HIGH,
    )


def _local(entry: Entry, path: str, how: str) -> Iterator[Judgement]:
    inside = _inside(path)
    yield Judgement(
        "local",
        f"{how} {path!r}"
        + (
            (
                ": a wheel in the repository, whose code runs when imported"
                if path.lower().endswith(".whl")
                else ": a path in the repository, whose build script runs on install"
            )
            if inside
            else ": a path outside the repository, which the scan cannot see"
        ),
        {"line": entry.text, "path": path, "inside": inside},
        severity=Severity.MEDIUM if inside else Severity.HIGH,
    )


def judge_entry(entry: Entry) -> Iterator[Judgement]:
    """The verdicts on one parsed line (nothing for a plain named requirement or a harmless
    option)."""
    if entry.kind == "unparsed":
        url = "://" in entry.text or bool(_VCS.search(entry.text))
        yield Judgement(
            "unparsed",
            f"not understood as a requirement or option: {entry.text[:200]}",
            {"line": entry.text},
            severity=Severity.HIGH if url else Severity.MEDIUM,
        )
        return
    if entry.kind == "option":
        if entry.option in _INDEX_OPTIONS:
            yield from _index(entry)
        elif entry.option in _INCLUDE_OPTIONS:
            yield from _include(entry)
        elif entry.option not in _OPTION_NAMES.values():
            yield Judgement(
                "unparsed",
                f"option {entry.option} is not one pip reads in a requirements file",
                {"line": entry.text, "option": entry.option},
                severity=Severity.MEDIUM,
            )
        return
    value = entry.value
    editable = entry.option == "--editable"
    what = "installs (editable) " if editable else "installs "
    if value and (_VCS.match(value) or _URL.match(value)):
        if value.lower().startswith("file:"):
            yield from _local(entry, value, what + "from")
        else:
            who = _vendor(value) if not _VCS.match(value) else None
            yield Judgement(
                "remote",
                f"{what}{entry.name or 'a package'} from "
                + (
                    f"{who}'s index: {value}"
                    if who
                    else f"{'version control' if _VCS.match(value) else 'a URL'}: {value} -- "
                    "code the scan never sees, built and run on install"
                ),
                {"line": entry.text, "url": value, **({"vendor": who} if who else {})},
                severity=Severity.LOW if who else Severity.HIGH,
            )
    elif value:
        yield from _local(entry, value, what + "from")
    for option, option_value in entry.req_options:
        if option in _BUILD_OPTIONS:
            yield Judgement(
                "build-options",
                f"{option} {option_value}: options handed to the package's build script",
                {"line": entry.text, "option": option, "value": option_value},
                severity=Severity.MEDIUM,
            )
        elif option != "--hash":
            yield Judgement(
                "unparsed",
                f"per-requirement option {option} is not one pip reads",
                {"line": entry.text, "option": option},
                severity=Severity.MEDIUM,
            )
    if entry.name:
        yield from judge_name(entry.name, entry.text, entry.pinned)


def _include(entry: Entry) -> Iterator[Judgement]:
    value = entry.value
    evidence = {"line": entry.text, "option": entry.option, "path": value}
    if _URL.match(value) and not value.lower().startswith("file:"):
        yield Judgement(
            "remote",
            f"{entry.option} {value}: requirements read from a URL the scan never sees",
            evidence,
            severity=Severity.HIGH,
        )
    elif not _inside(value) and not value.startswith(".."):
        yield Judgement(
            "include",
            f"{entry.option} {value}: reads requirements from outside the repository",
            evidence,
            severity=Severity.MEDIUM,
        )
    else:
        yield Judgement(
            "include", f"{entry.option} {value}: reads another file", evidence,
            severity=Severity.INFO,
        )  # fmt: skip


def _edits(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
    inserts = {a + c + b for a, b in splits for c in _ALPHABET}
    return (deletes | swaps | replaces | inserts) - {word}


def lookalike(name: str) -> str | None:
    """The popular project ``name`` imitates, if it is not itself a known name: one edit away
    (insert, delete, replace, swap of neighbours) from a popular name of at least
    :data:`TYPO_MIN_LENGTH` characters, or the same letters with different separators."""
    from modelxray.analysis._generated.popular_packages import KNOWN, TARGETS

    name = normalise(name)
    if name in KNOWN:
        return None
    squashed = name.replace("-", "")
    for target in sorted(TARGETS):
        if target.replace("-", "") == squashed:
            return target
    if len(name) < TYPO_MIN_LENGTH - 1:
        return None
    hits = sorted(t for t in _edits(name) & TARGETS if len(t) >= TYPO_MIN_LENGTH)
    return hits[0] if hits else None


def judge_name(name: str, line: str, pinned: bool) -> Iterator[Judgement]:
    target = lookalike(name)
    if target is not None:
        yield Judgement(
            "typosquat",
            f"{name!r} is one edit away from the popular project {target!r}: a typosquat "
            "installs the attacker's package (and runs its build script) instead",
            {"line": line, "name": name, "imitates": target, "pinned": pinned},
            severity=Severity.HIGH,
        )


def judge_line(text: str) -> list[Judgement]:
    return list(judge_entry(parse_line(text)))


# -- conda ------------------------------------------------------------------------------------
def judge_conda_channel(channel: str) -> Iterator[Judgement]:
    channel = channel.strip().rstrip("/")
    evidence = {"channel": channel}
    if channel in CONDA_CHANNELS:
        return
    if _URL.match(channel):
        if channel.lower().startswith("file:"):
            yield Judgement(
                "channel",
                f"conda channel {channel}: packages from a local folder",
                evidence,
                severity=Severity.MEDIUM,
            )
            return
        for host in CONDA_CHANNEL_HOSTS:
            if channel.startswith(host) and channel[len(host) :] in CONDA_CHANNELS:
                return
        yield Judgement(
            "channel",
            f"conda channel {channel}: packages from a server the scan cannot see; any name "
            "in this environment can be served from there",
            evidence,
            severity=Severity.HIGH,
        )
        return
    if looks_like_path(channel):
        yield Judgement(
            "channel", f"conda channel {channel}: packages from a local folder", evidence,
            severity=Severity.MEDIUM,
        )  # fmt: skip
        return
    yield Judgement(
        "channel",
        f"conda channel {channel!r}: an anaconda.org channel outside the standard ones; its "
        "owner decides what each package name installs",
        evidence,
        severity=Severity.LOW,
    )


# conda package names may start with "_" (_libgcc_mutex, _openmp_mutex in every export)
_CONDA_SPEC = re.compile(
    rf"^_*{_NAME}(?:\[[^\]]*\])?\s*(?:[=<>!~]=?\s*[\w.*+!,|<>=-]*\s*)*(?:\s+[\w.*]+)*$"
)


def judge_conda_spec(spec: str) -> Iterator[Judgement]:
    """One string of a conda environment's ``dependencies`` list (``[channel::]name[ version]``
    or an explicit package URL)."""
    spec = spec.strip()
    if _URL.match(spec):
        entry = Entry(spec, "requirement", value=spec)
        yield from judge_entry(entry)
        return
    if "::" in spec:
        yield from judge_conda_channel(spec.split("::", 1)[0])
        spec = spec.split("::", 1)[1]
    if not _CONDA_SPEC.match(spec):
        yield Judgement(
            "unparsed", f"not understood as a conda package spec: {spec[:200]}", {"spec": spec},
            severity=Severity.MEDIUM,
        )  # fmt: skip


# -- pip on a command line (notebooks) ----------------------------------------------------------
# pip install options that take a value (``pip install --help``).
_PIP_VALUE_OPTIONS = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target",
     "--platform", "--python-version", "--implementation", "--abi", "--root", "--prefix",
     "--src", "--upgrade-strategy", "-C", "--config-settings", "--global-option",
     "--install-option", "--no-binary", "--only-binary", "--progress-bar", "--root-user-action",
     "--report", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
     "--trusted-host", "--log", "--log-file", "--proxy", "--retries", "--timeout",
     "--exists-action", "--cert", "--client-cert", "--cache-dir", "--python",
     "--keyring-provider", "--use-feature", "--use-deprecated", "--group", "--resume-retries"}
)  # fmt: skip
_PIP_INSTALL = re.compile(
    r"^(?:(?:python(?:3(?:\.\d+)?)?|py)\s+-m\s+)?(?:pip3?(?:\.\d+)?|uv\s+pip)\s+install\b", re.I
)
_SHELL_PUNCTUATION = "|;&<>()"


def pip_install_entries(command: str) -> list[Entry] | None:
    """The requirement lines a lone ``pip install …`` command amounts to; None when the command
    is not one (another program, a pipeline, shell expansions, unbalanced quotes)."""
    m = _PIP_INSTALL.match(command.strip())
    if m is None or "$" in command or "`" in command or "\n" in command.strip():
        return None
    lexer = shlex.shlex(command.strip()[m.end() :], posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    if any(t and all(c in _SHELL_PUNCTUATION for c in t) for t in tokens):
        return None  # a pipeline, a redirection, a command list: not one pip install
    out: list[Entry] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("-") and token != "-":
            option, _, value = token.partition("=")
            if option in _PIP_VALUE_OPTIONS and not value and i < len(tokens):
                value = tokens[i]
                i += 1
            canonical = _OPTION_NAMES.get(option, option)
            if canonical in _INDEX_OPTIONS or canonical in _INCLUDE_OPTIONS:
                out.append(Entry(f"{option} {value}", "option", canonical, value))
            elif canonical == "--editable":
                out.append(parse_line(f"-e {value}"))
            elif option in _BUILD_OPTIONS:
                out.append(Entry(token, "requirement", req_options=((option, value),)))
            continue
        out.append(_requirement(token))
    return out


def judge_pip_command(command: str) -> list[Judgement] | None:
    """The verdicts on a lone ``pip install`` command, judged as the same lines in a
    requirements file; None when ``command`` is not one."""
    entries = pip_install_entries(command)
    if entries is None:
        return None
    return [j for entry in entries for j in judge_entry(entry)]
