"""MX-ARCHIVE: what an archive or compression wrapper does to whoever unpacks it.

These rules look at the container itself (member names, links, sizes, ratios);
the members' content is scanned by the format readers like any other file.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "archive"
_FORMATS = ("zip", "tar", "7z", "gzip", "bzip2", "xz", "lzma", "lz4", "zstd", "zlib")

PATH_TRAVERSAL = Rule(
    "MX-ARCHIVE-001",
    "Member path escapes the extraction folder",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2023-5245",),
    cwes=("CWE-22", "CWE-23", "CWE-36"),
    package=__name__,
)
LINK_ESCAPE = Rule(
    "MX-ARCHIVE-002",
    "Link member points outside the extraction folder",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-59", "CWE-22"),
    package=__name__,
)
LINK_MEMBER = Rule(
    "MX-ARCHIVE-003",
    "Archive holds a link or special-file member",
    FAMILY,
    Severity.LOW,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-59",),
    package=__name__,
)
DUPLICATE_NAME = Rule(
    "MX-ARCHIVE-004",
    "Two members share one name",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-436",),
    package=__name__,
)
BOMB = Rule(
    "MX-ARCHIVE-005",
    "Compressed content expands beyond the ratio or size limit",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-409", "CWE-400"),
    package=__name__,
)
MISSING_EXTRA = Rule(
    "MX-ARCHIVE-006",
    "Archive needs an optional extra to be scanned",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=("7z", "lz4", "zstd"),
    package=__name__,
    incomplete=True,
)
ENCRYPTED = Rule(
    "MX-ARCHIVE-007",
    "Encrypted archive content cannot be scanned",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=("7z",),
    cwes=("CWE-506",),
    package=__name__,
    incomplete=True,
)
PREFIX = Rule(
    "MX-ARCHIVE-008",
    "Bytes before the archive are read by loaders that start at byte 0",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("zip",),
    cwes=("CWE-436",),
    package=__name__,
)
DIRECTORY_MISMATCH = Rule(
    "MX-ARCHIVE-009",
    "Archive readers disagree on the member list",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("zip",),
    cwes=("CWE-436",),
    package=__name__,
)

RULES = (
    PATH_TRAVERSAL,
    LINK_ESCAPE,
    LINK_MEMBER,
    DUPLICATE_NAME,
    BOMB,
    MISSING_EXTRA,
    ENCRYPTED,
    PREFIX,
    DIRECTORY_MISMATCH,
)
