# The otel-label-studio bridge: an OTLP receiver (gRPC 4317, HTTP 4318) that turns LLM/chat spans
# into Label Studio tasks.  Build: docker build -t otel-label-studio .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The locked dependencies first (their layer is reused while the lock does not change), then the package.
COPY requirements/app.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/app.txt
COPY pyproject.toml README.md ./
COPY src/ ./src/
# The demo extra and devtools/demo.py (developer tooling, not in the package) let the same image run
# the compose file's demo-app (python /app/devtools/demo.py); requirements/app.txt holds the extras
# (demo, and postgres: psycopg for a review state shared by several bridges, --state-url).
COPY devtools/demo.py ./devtools/
RUN pip install --no-cache-dir --no-deps ".[demo,postgres]" \
    && rm -rf /app/src /app/build

# Run as an unprivileged user that owns the data directory (the durable spool lives there).
RUN groupadd --system --gid 10001 otells \
    && useradd --system --uid 10001 --gid otells --home-dir /var/lib/otel-label-studio --no-create-home otells \
    && mkdir -p /var/lib/otel-label-studio \
    && chown otells:otells /var/lib/otel-label-studio
USER otells:otells
VOLUME ["/var/lib/otel-label-studio"]

# 4317 OTLP/gRPC (what the Collector's loadbalancing exporter uses), 4318 OTLP/HTTP.
EXPOSE 4317 4318

ENTRYPOINT ["otel-label-studio"]
CMD ["serve", "--host", "0.0.0.0", "--data-dir", "/var/lib/otel-label-studio"]
