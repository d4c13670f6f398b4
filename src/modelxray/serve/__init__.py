"""``modelxray serve``: the scanning service (issue 18).

Everything here needs the optional ``modelxray[serve]`` extra (FastAPI, uvicorn, SQLAlchemy,
Alembic, python-multipart) and is imported only by the ``serve`` and ``keys`` commands.

Data flows one way: an upload (or a remote URI) is recorded as a queued scan in the database
(:mod:`.db`), a bounded pool of worker processes (:mod:`.jobs`) claims queued scans, runs the
engine on each with every file parsed in an rlimited child (:mod:`modelxray.isolate`) and
stores the JSON report (:mod:`modelxray.reports.json_report`) and the HTML report
(:mod:`modelxray.reports.html`); the API (:mod:`.api`) and the pages (:mod:`.pages`) read them.
With ``--upstream``, the Hugging Face-compatible gateway (:mod:`.gateway`) is mounted last: it
scans each file a client resolves and serves only bytes it scanned.
"""
