# syntax=docker/dockerfile:1
# Rewind compiled to JavaScript (`npm run build`): the image runs plain `node` on dist/, with no tsx or
# typescript at run time and without the sandbox or the demo (those commands say so and point at a
# source checkout). test/integration/build-image.test.ts replays these stages without a Docker engine.

# --- build: every dependency, compile src/ and workers/ to dist/ --------------------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build && rm -rf dist/src/sandbox dist/src/demo

# --- deps: production dependencies only (same base, so native add-ons match the runtime) -------------
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime --------------------------------------------------------------------------------------------
FROM node:22-bookworm-slim AS runtime
# git: Rewind drives the git CLI (mirror clones, worktrees, revert, push); ssh client for ssh remotes.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
  && rm -rf /var/lib/apt/lists/*

# A fixed, non-root uid (10001) so Kubernetes' runAsNonRoot can verify it numerically.
RUN groupadd --system --gid 10001 rewind \
  && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rewind --no-create-home \
       --shell /usr/sbin/nologin rewind \
  && mkdir -p /var/lib/rewind /etc/rewind \
  && chown 10001:10001 /var/lib/rewind

ENV NODE_ENV=production \
    HOME=/var/lib/rewind \
    REWIND_GIT_WORKDIR=/var/lib/rewind \
    GIT_TERMINAL_PROMPT=0

WORKDIR /app
# package.json: "type": "module" for dist/ and the version `rewind --version` prints.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Git mirrors and worktrees live here; mount a volume (compose) or an emptyDir (Kubernetes).
VOLUME ["/var/lib/rewind"]
USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start", "--config", "/etc/rewind/rewind.yaml"]
