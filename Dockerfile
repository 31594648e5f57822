# syntax=docker/dockerfile:1
# Hookflow image: one image, two processes.
#   API    (default): node dist/api/server.js   (listens on $HOST:$PORT, 0.0.0.0:3000)
#   worker          : node dist/worker.js
# Debian slim (glibc), not Alpine: argon2 and @temporalio/core-bridge ship prebuilt glibc binaries.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# All dependencies (dev included) for the build.
FROM base AS deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

# tsc -p tsconfig.build.json -> dist/, then scripts/bundle-workflows.ts -> dist/workflow-bundle.js
# (the worker loads this prebuilt bundle instead of running webpack at start).
FROM deps AS build
COPY . .
RUN npm run build

# Production dependencies only.
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

FROM base AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TEMPORAL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
# Without a heap limit Node sizes its heap (and the Temporal SDK its workflow cache) from the host's memory:
# bench/RESULTS.md measured API + worker at 1.1 GiB under load without these flags, 525 MiB with them.
# Raise --max-old-space-size for deployments with large run inputs.
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=384"
# Files stay root-owned (read-only for the process); the app writes nothing under /app in production.
COPY package.json package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# SQL migrations, applied by the API on start (DB_MIGRATE_ON_START) from /app/drizzle.
COPY --from=build /app/drizzle ./drizzle
USER node
EXPOSE 3000
CMD ["node", "dist/api/server.js"]
