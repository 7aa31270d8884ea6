# PostgreSQL 15 from Debian's packages, on the same pinned base image as the node (Dockerfile),
# for compose.replicas.yaml. A state uses its own managed server instead.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e
FROM ${PYTHON_IMAGE}
# A fixed uid and gid (999) for postgres: the setup service gives it the password file's group.
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql postgres \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
COPY --chmod=0755 db-start.sh /usr/local/bin/db-start
RUN install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
USER postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/db-start"]
