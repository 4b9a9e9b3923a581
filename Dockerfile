# syntax=docker/dockerfile:1
# Multi-stage build: the first stage compiles TypeScript, the second carries only the runtime.
# The image runs as a non-root user; the DERP relay and DNS forwarder need no privileges.
# For WireGuard (TUN), run with --cap-add NET_ADMIN --device /dev/net/tun and --user 0.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY examples ./examples
RUN useradd --system --uid 10001 --home /var/lib/tsplane tsplane && mkdir -p /var/lib/tsplane && chown tsplane /var/lib/tsplane
USER tsplane
# DERP over HTTP (put TLS at the ingress), STUN, DNS, metrics
EXPOSE 3340/tcp 3478/udp 5353/udp 5353/tcp 9100/tcp
# --max-semi-space-size=4: short GC pauses under tunnel load (see deploy/systemd/tsplane.service).
ENTRYPOINT ["node", "--max-semi-space-size=4", "/app/dist/src/cli/tsplane.js"]
CMD ["run", "/app/examples/tsplane.yaml"]
