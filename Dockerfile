# syntax=docker/dockerfile:1
# The runtime image: production dependencies only; isolated-vm is compiled here if npm has no
# prebuilt binary for this platform, hence the build tools in the first stage only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    FAAS_HOST=0.0.0.0 \
    FAAS_PORT=8080
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node . .
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FAAS_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# isolated-vm requires --no-node-snapshot; SIGTERM drains in-flight invocations (FAAS_SHUTDOWN_GRACE_MS).
STOPSIGNAL SIGTERM
CMD ["node", "--no-node-snapshot", "--disable-warning=TimeoutNegativeWarning", "scripts/start.ts"]
