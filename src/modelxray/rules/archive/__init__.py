"""MX-ARCHIVE: what an archive or compression wrapper does to whoever unpacks it.

These rules look at the container itself (member names, links, sizes, ratios);
the members' content is scanned by the format readers like any other file.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("zip", "tar", "7z", "gzip", "bzip2", "xz", "lzma", "lz4", "zstd", "zlib")

FAMILY = RuleFamily("archive", package=__name__, formats=_FORMATS)
PATH_TRAVERSAL = FAMILY.rule(
    "MX-ARCHIVE-001",
    "Member path escapes the extraction folder",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2023-5245",),
    cwes=("CWE-22", "CWE-23", "CWE-36"),
)
LINK_ESCAPE = FAMILY.rule(
    "MX-ARCHIVE-002",
    "Link member points outside the extraction folder",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-59", "CWE-22"),
)
LINK_MEMBER = FAMILY.rule(
    "MX-ARCHIVE-003",
    "Archive holds a link or special-file member",
    Severity.LOW,
    Confidence.MEDIUM,
    cwes=("CWE-59",),
)
DUPLICATE_NAME = FAMILY.rule(
    "MX-ARCHIVE-004",
    "Two members share one name",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-436",),
)
BOMB = FAMILY.rule(
    "MX-ARCHIVE-005",
    "Compressed content expands beyond the ratio or size limit",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-409", "CWE-400"),
)
MISSING_EXTRA = FAMILY.rule(
    "MX-ARCHIVE-006",
    "Archive needs an optional extra to be scanned",
    Severity.HIGH,
    Confidence.HIGH,
    formats=("7z", "lz4", "zstd"),
    incomplete=True,
)
ENCRYPTED = FAMILY.rule(
    "MX-ARCHIVE-007",
    "Encrypted archive content cannot be scanned",
    Severity.HIGH,
    Confidence.HIGH,
    formats=("7z",),
    cwes=("CWE-506",),
    incomplete=True,
)
PREFIX = FAMILY.rule(
    "MX-ARCHIVE-008",
    "Bytes before the archive are read by loaders that start at byte 0",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("zip",),
    cwes=("CWE-436",),
)
DIRECTORY_MISMATCH = FAMILY.rule(
    "MX-ARCHIVE-009",
    "Archive readers disagree on the member list",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("zip",),
    cwes=("CWE-436",),
)
OVERLAP = FAMILY.rule(
    "MX-ARCHIVE-010",
    "Archive entries overlap (overlapping-entry zip bomb)",
    Severity.HIGH,
    Confidence.HIGH,
    formats=("zip",),
    cwes=("CWE-409", "CWE-400", "CWE-436"),
)
