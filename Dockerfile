# A registry node in a container. State and keys live in the /var/lib/registry-node volume.
#   docker build -t registry-node .
#   docker run -p 8080:8080 -v registry-data:/var/lib/registry-node registry-node
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY registry_node ./registry_node
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/registry-node registry \
    && mkdir -p /var/lib/registry-node && chown registry /var/lib/registry-node \
    && chmod 700 /var/lib/registry-node
COPY trust_lists ./trust_lists
COPY peers.yaml ./peers.yaml
RUN printf 'listen: {host: 0.0.0.0, port: 8080}\ndata_dir: /var/lib/registry-node\ntrust_list: /app/trust_lists/us-oh.yaml\npeers_file: /app/peers.yaml\n' > /app/node.yaml

USER registry
EXPOSE 8080
VOLUME ["/var/lib/registry-node"]
HEALTHCHECK CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
ENTRYPOINT ["registry-node", "--config", "/app/node.yaml"]
CMD ["serve"]
