# modelxray serve: the scanning service (issue 18).  Build: docker build -t modelxray .
# Run (SQLite in the volume): docker run -e MODELXRAY_ADMIN_KEY=... -p 8000:8000 -v mx:/data modelxray
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install '.[serve,postgres,remote]' && rm -rf /src \
    && useradd --system --home-dir /data --create-home modelxray
USER modelxray
WORKDIR /data
ENV MODELXRAY_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request,sys;urllib.request.urlopen('http://127.0.0.1:8000/readyz',timeout=4)" || exit 1
# MODELXRAY_DB=postgresql://user:password@host/db for PostgreSQL (see compose.yaml)
ENTRYPOINT ["modelxray", "serve", "--host", "0.0.0.0", "--port", "8000"]
