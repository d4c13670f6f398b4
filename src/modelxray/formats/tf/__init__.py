"""TensorFlow decoders, without TensorFlow: what SavedModel files hold (``savedmodel``) and the
cheap first-bytes checks that recognise them (``sniff``).  Decoding only; the graph is judged
by :mod:`modelxray.analysis.tf_graph` and the readers live in :mod:`modelxray.formats.savedmodel`.
"""
