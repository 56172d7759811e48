# Production image: slim Python, CPU-only torch, non-root user, `learnbot run`.
# (Docker can't run on the machines this was written on; kept correct by reading.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 \
    DATA_DIR=/data LEARNBOT_MIGRATIONS_DIR=/app/migrations

WORKDIR /app
# CPU wheel first so sentence-transformers doesn't pull a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY rag ./rag
COPY storage ./storage
COPY migrations ./migrations
COPY courses ./courses
COPY locales ./locales
ENV LEARNBOT_LOCALES_DIR=/app/locales
RUN pip install ".[redis]"

RUN useradd --create-home --uid 10001 learnbot && mkdir -p /data && chown learnbot /data
USER learnbot
VOLUME ["/data"]
EXPOSE 8080
CMD ["learnbot", "run"]
