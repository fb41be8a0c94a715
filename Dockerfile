# The Custody image: the `custody` command with producers, processors, lineage
# and alerts, and the runner that Kubernetes Jobs use to stage inputs and
# commit outputs (k8s/, docs/kubernetes.md). Runs as the non-root user 65532,
# which the Pod Security contexts in k8s/ and processors/k8s_jobs.py expect.
#
#   docker build -t custody:dev .

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY custody ./custody
COPY producers ./producers
COPY processors ./processors
COPY lineage ./lineage
COPY demo ./demo
# Wheels of Custody and of every dependency, so the final stage needs no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin custody
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
ENV PYTHONUNBUFFERED=1 \
    CUSTODY_PROCESSORS_STATE_DIR=/var/lib/custody/processors
USER 65532:65532
ENTRYPOINT ["custody"]
CMD ["--help"]
