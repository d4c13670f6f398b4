"""Format sniffing and the readers registered for each format.

Importing this package registers every reader; readers import heavy libraries
(h5py, numpy) only inside ``scan``, so start-up stays cheap.
"""

from modelxray.formats.base import FormatReader, identify, readers, register

# Registration order does not matter: the sniff score decides.
from modelxray.containers import zip as _zip  # noqa: E402,F401
from modelxray.formats import hdf5 as _hdf5  # noqa: E402,F401
from modelxray.formats import json_doc as _json_doc  # noqa: E402,F401
from modelxray.formats import savedmodel as _savedmodel  # noqa: E402,F401

__all__ = ["FormatReader", "identify", "readers", "register"]
