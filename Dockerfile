# Production image: `docker build -t gatehouse .`, then
#   docker run -p 8080:8080 -p 9090:9090 -v gatehouse-data:/data gatehouse
# serves config/gatehouse.container.yaml (embedded store under /data). Mount another config at
# /etc/gatehouse/gatehouse.yaml, or pass `serve --config FILE`. See docs/operations.md.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dependencies only (the package's own `prepare` build needs the sources, copied below).
# better-sqlite3 ships prebuilt Node-API binaries (glibc and musl, x64 and arm64): no compiler.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.console.json ./
COPY scripts/copy-console-assets.js scripts/
COPY gateway gateway
COPY console console
COPY bin bin
RUN npx tsc -p tsconfig.json && npm run build:console
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json package.json
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist/gateway dist/gateway
COPY --from=build /app/dist/console dist/console
COPY --from=build /app/bin bin
COPY config/gatehouse.container.yaml /etc/gatehouse/gatehouse.yaml
# The embedded store's folder belongs to the unprivileged user the gateway runs as.
RUN mkdir /data && chown 10001:10001 /data
VOLUME /data
USER 10001:10001
# external, internal, admin (config/gatehouse.container.yaml)
EXPOSE 8080 8090 9090
# Exec form: node is PID 1 and receives SIGTERM itself (the gateway drains, then exits 0).
ENTRYPOINT ["node", "/app/bin/gatehouse.js"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
