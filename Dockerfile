# syntax=docker/dockerfile:1
# Rewind runs its TypeScript sources through tsx (a runtime dependency), so there is no build step:
# the first stage only resolves production dependencies, the second is the runtime image.

# --- dependencies: same base as the runtime so esbuild's platform binary matches -------------------
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------------
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
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workers ./workers

# Git mirrors and worktrees live here; mount a volume (compose) or an emptyDir (Kubernetes).
VOLUME ["/var/lib/rewind"]
USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "bin/rewind.mjs"]
CMD ["start", "--config", "/etc/rewind/rewind.yaml"]
