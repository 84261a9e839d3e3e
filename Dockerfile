# hmm-stack image: one image for every process (`hmm ops`, `hmm engine --venue sim|binance`,
# `hmm up`). TypeScript runs through tsx, as in development: no build step to drift from.
#   docker build -t hmm-stack:local .
#   docker run --rm -p 127.0.0.1:8002:8002 -e OPS_API_TOKEN=... hmm-stack:local up
# Environment set here: HMM_ROOT=/data (state, a volume), OPS_HOST/ENGINE_HOST=0.0.0.0 (reachable
# from other containers; publish ports on the host deliberately), HEALTHCHECK_URL (what the
# health check asks: the Ops API's /health by default, an engine sets its own /health).

# --- dependencies, with the toolchain better-sqlite3 needs when no prebuilt binary fits ------
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Install scripts off for everything, then build only the native modules that need them.
RUN npm ci --omit=dev --ignore-scripts \
 && npm rebuild better-sqlite3 esbuild \
 && npm cache clean --force

# --- runtime -----------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HMM_ROOT=/data \
    OPS_HOST=0.0.0.0 \
    ENGINE_HOST=0.0.0.0 \
    HEALTHCHECK_URL=http://127.0.0.1:8002/health
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY web ./web
# The shipped operator defaults, copied into a fresh HMM_ROOT at first start.
COPY ops/policies.yaml ops/capital_policy.json ./ops/
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8002 8101
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# V8 heap flags (src/app/nodeFlags.ts): only node's command line can set them.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--initial-old-space-size=32", "--heap-growing-percent=50", "bin/hmm.mjs"]
CMD ["up"]
