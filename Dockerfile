# otabox in a container: one process, all state in the /data volume, run as an unprivileged user.
FROM python:3.11-slim

# Optional extras to build in, comma-separated: `--build-arg OTABOX_EXTRAS=postgres,s3` for a box on
# PostgreSQL and an S3-compatible bucket (deploy/docker-compose.yml), `brotli` for `br` downloads.
# bsdiff4 (a runtime dependency, a C extension) installs from its manylinux wheel: no compiler needed.
ARG OTABOX_EXTRAS=""
# The dependencies get their own layer, rebuilt only when setup.cfg changes, not with every source edit.
COPY setup.cfg /tmp/setup.cfg
RUN python -c "import configparser, os; c = configparser.ConfigParser(); c.read('/tmp/setup.cfg'); \
extras = [e.strip() for e in os.environ.get('OTABOX_EXTRAS', '').split(',') if e.strip()]; \
print(c['options']['install_requires'] + ''.join(c['options.extras_require'][e] for e in extras))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/setup.cfg /tmp/requirements.txt

COPY . /src
RUN pip install --no-cache-dir --no-deps /src && rm -rf /src

RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin otabox \
 && mkdir /data && chown otabox:otabox /data && chmod 700 /data
USER otabox
ENV OTABOX_DATA_DIR=/data \
    OTABOX_HOST=0.0.0.0 \
    OTABOX_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
# The slim image has no curl; Python asks /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OTABOX_PORT', '8080'), timeout=4)"]
CMD ["otabox", "serve"]
