# syntax=docker/dockerfile:1
# Tollgate's container image: the packed npm package with its production dependencies only, on the
# Node.js LTS slim image, run as a non-root user with tini as PID 1.
#
#   docker build -t tollgate:0.1.0 .        (or: podman build -t tollgate:0.1.0 .)
#
# A distroless runtime (gcr.io/distroless/nodejs24-debian12) also works: copy /opt/tollgate and
# tini-static the same way and use ENTRYPOINT ["/tini", "--", "/nodejs/bin/node",
# "/opt/tollgate/bin/tollgate.js"], since it has no /usr/bin/env for the launcher's shebang.
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Build and pack: the tarball holds exactly what `npm publish` would (package.json "files").
FROM ${NODE_IMAGE} AS pack
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY examples ./examples
COPY docs ./docs
COPY README.md ./
# `npm pack` runs the `prepare` script, which compiles src/ to dist/.
RUN npm pack --pack-destination /pack && mv /pack/tollgate-*.tgz /pack/tollgate.tgz

# 2. Install the packed package into a clean directory with production dependencies only, pinned by
#    the lockfile. --ignore-scripts: nothing is compiled at install time, dist/ is in the package.
FROM ${NODE_IMAGE} AS install
WORKDIR /opt/tollgate
COPY --from=pack /pack/tollgate.tgz /tmp/tollgate.tgz
COPY package-lock.json ./
RUN tar -xzf /tmp/tollgate.tgz --strip-components=1 -C /opt/tollgate \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf /root/.npm
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*

# 3. Runtime: node, the installed package, tini. Nothing here needs a shell.
FROM ${NODE_IMAGE}
COPY --from=install /usr/bin/tini-static /usr/bin/tini
COPY --from=install /opt/tollgate /opt/tollgate
RUN ln -s /opt/tollgate/bin/tollgate.js /usr/local/bin/tollgate \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
 && mkdir -p /etc/tollgate/config /etc/tollgate/secrets /var/lib/tollgate \
 && chown 10001:10001 /var/lib/tollgate
# Config and secrets are mounted read-only (a ConfigMap and a Secret in Kubernetes, the kubelet's
# ..data layout is watched and hot-reloaded); the usage ledger is the only thing written.
ENV NODE_ENV=production \
    TOLLGATE_CONFIG=/etc/tollgate/config \
    TOLLGATE_SECRETS_DIR=/etc/tollgate/secrets \
    TOLLGATE_LEDGER=/var/lib/tollgate/ledger
USER 10001:10001
WORKDIR /var/lib/tollgate
EXPOSE 8080 9901
VOLUME ["/var/lib/tollgate"]
# tini is PID 1: it forwards SIGTERM to the gateway (which then drains) and reaps any child.
ENTRYPOINT ["/usr/bin/tini", "--", "tollgate"]
# The admin listener binds every interface so probes and Prometheus reach it; keep its port private.
CMD ["serve", "--listen", "0.0.0.0:8080", "--admin", "0.0.0.0:9901"]
