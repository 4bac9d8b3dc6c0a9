# syntax=docker/dockerfile:1

# Build stage: compiles one self-contained executable with the same command the tests run
# (`bun run build` → dist/chat-service). Migrations and the PGlite wasm/data files are embedded.
FROM oven/bun:1.4 AS build
WORKDIR /src
COPY package.json bun.lock ./
# Fixes applied to dependencies at install (see each file for why).
COPY patches ./patches
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src
RUN bun run build \
 && ./dist/chat-service --version \
 && mkdir -p /data

# Run stage: glibc and CA certificates only (no shell, no package manager), as a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/chat-service /usr/local/bin/chat-service
# The embedded database (when DATABASE_URL is unset) lives here; a new volume copies its owner.
COPY --from=build --chown=65532:65532 /data /data
# Docker waits 10 s after SIGTERM before it kills: the graceful stop must end before that.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    WS_PORT=3001 \
    DATA_DIR=/data \
    SHUTDOWN_TIMEOUT_MS=8000
USER 65532:65532
WORKDIR /data
EXPOSE 3000 3001
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/chat-service", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chat-service"]
CMD ["serve"]
