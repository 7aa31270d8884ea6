# registry-node in a container: one non-root process, its state in one volume, its
# configuration in a mounted folder. docs/operations.md ("Running in a container") has the
# whole procedure; in short:
#
#   docker build -t registry-node .
#   docker run -d --name registry-node -p 127.0.0.1:8080:8080 \
#       -v /srv/registry-node/config:/etc/registry-node:ro \
#       -v registry-data:/var/lib/registry-node registry-node
#
# Paths in the image:
#   /etc/registry-node/         configuration and working directory: node.yaml, peers.yaml,
#                               trust_lists/. The image holds a single-node example here (the
#                               fictional Ohio issuers); a state mounts its own folder over it.
#   /var/lib/registry-node/     data_dir: the SQLite database and keys/ (a volume; back it up).
#   /usr/share/registry-node/   the fictional example issuer lists of trust_lists/.
#
# registry-node reads no environment variables: every setting is in node.yaml. The command
# below makes the node listen on all of the container's interfaces (the port comes from
# node.yaml, 8080 by default); publish it to the host's loopback and put a TLS-terminating
# reverse proxy in front (docs/operations.md, "TLS and reverse proxies").

# The base image, pinned by digest: a rebuild gets the same bytes until someone moves the pin
# on purpose (the tag names the version; the digest is what is pulled). To update it, pull the
# new tag and replace both: `docker buildx imagetools inspect python:3.11-slim-bookworm`.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e

# -- build: install the package and its dependencies into a virtual environment ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY registry_node ./registry_node
# The environment gets no pip of its own: the build stage's pip installs into it.
RUN python -m venv --without-pip /opt/registry-node \
    && python -m pip --python /opt/registry-node/bin/python install .

# -- runtime: the environment, a system user, the data folder --------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="registry-node" \
      org.opencontainers.image.description="A state's registry of trusted LER credential issuers: signed list, federation with neighbouring states" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/registry-node/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed uid/gid (10001), so that a host folder mounted as data_dir can be given to it:
#   chown -R 10001:10001 /srv/registry-node/data
RUN groupadd --system --gid 10001 registry \
    && useradd --system --uid 10001 --gid registry --no-create-home \
       --home-dir /var/lib/registry-node --shell /usr/sbin/nologin registry \
    && install -d -o registry -g registry -m 0700 /var/lib/registry-node \
    && install -d -m 0755 /etc/registry-node

COPY --from=build /opt/registry-node /opt/registry-node
COPY trust_lists /usr/share/registry-node/trust_lists

# The example configuration, used only when no configuration folder is mounted. Do not use its
# volume for a real state: the fictional issuers it imports can be revoked but never deleted.
RUN printf '%s\n' \
      '# Example single node (fictional Ohio issuers). A state mounts its own folder here.' \
      'node_id: https://registry.ohio.example' \
      'jurisdiction: US-OH' \
      'name: Ohio LER Trust Registry (example)' \
      'listen: {host: 0.0.0.0, port: 8080}' \
      'public_url: http://localhost:8080' \
      'data_dir: /var/lib/registry-node' \
      'trust_list: /usr/share/registry-node/trust_lists/us-oh.yaml' \
      'peers_file: peers.yaml' \
      > /etc/registry-node/node.yaml \
    && registry-node --config /etc/registry-node/node.yaml peers check

# Commands run here, so `docker exec <container> registry-node keys list` finds ./node.yaml.
WORKDIR /etc/registry-node
USER 10001:10001
VOLUME ["/var/lib/registry-node"]
EXPOSE 8080

# Liveness: GET /healthz on the port that node.yaml configures.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from pathlib import Path; from registry_node.config import load; port = load(Path('/etc/registry-node/node.yaml')).port; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

ENTRYPOINT ["registry-node"]
CMD ["serve", "--host", "0.0.0.0"]
