# syntax=docker/dockerfile:1
# The durasumi image: the `durasumi` command (API, platform worker, vendor workers) on
# python:3.11-slim. EXTRAS=platform,ray adds Ray for agents' GPU work; the same image then serves as
# the Ray head, so driver and cluster share one Ray and one Python version, and the Ray
# workers can import the agents' task functions.
#
#   docker build -t durasumi .                        # API and platform worker
#   docker build --build-arg EXTRAS=platform,ray -t durasumi-ray .
FROM python:3.11-slim

ARG EXTRAS="platform"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DURASUMI_HOME=/var/lib/durasumi \
    DURASUMI_TEMPORAL_CONFIG_FILE=/app/temporal-config/profiles.toml

WORKDIR /app
RUN useradd --system --create-home --uid 10001 durasumi \
    && install -d -o durasumi -g durasumi /var/lib/durasumi

COPY pyproject.toml README.md ./
# durasumi/ links the top-level folders: they install as durasumi.<folder>
COPY durasumi/ durasumi/
COPY workflows/ workflows/
COPY activities/ activities/
COPY workers/ workers/
COPY api/ api/
COPY cli/ cli/
COPY client/ client/
COPY db/ db/
COPY examples/ examples/
RUN pip install ".${EXTRAS:+[$EXTRAS]}"
COPY temporal-config/profiles.toml temporal-config/profiles.toml

USER durasumi
CMD ["durasumi", "--help"]
