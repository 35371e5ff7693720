# syntax=docker/dockerfile:1
# One image with every Ombuds binary: the five services, the three channel adapters
# (ombuds-adapter-email, -webhook, -hotline) and ombudsctl.
# docker-compose.yml runs each service from it with `command: ombuds-<service>`.
#
#   docker build -t ombuds .
#   docker run --rm ombuds ombudsctl --help

# ---- build ----
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace (see .dockerignore). protox compiles the protos in pure Rust,
# so no protoc is needed; SQLite is bundled by sqlx.
COPY . .
# Cache mounts keep the crate registry and the target dir between builds; the
# binaries are copied out of the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --bins --locked \
    && mkdir -p /out \
    && cp target/release/ombuds-intake \
          target/release/ombuds-routing \
          target/release/ombuds-sla-watchdog \
          target/release/ombuds-notification \
          target/release/ombuds-analytics \
          target/release/ombuds-adapter-email \
          target/release/ombuds-adapter-webhook \
          target/release/ombuds-adapter-hotline \
          target/release/ombudsctl \
          /out/

# ---- run ----
FROM debian:bookworm-slim
# ca-certificates for TLS to SMTP and webhooks; curl for health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ombuds \
    && useradd --system --uid 10001 --gid ombuds --home-dir /data --shell /usr/sbin/nologin ombuds \
    && mkdir -p /data \
    && chown ombuds:ombuds /data
COPY --from=build /out/ /usr/local/bin/
ENV OMBUDS_DATA_DIR=/data
WORKDIR /data
USER ombuds:ombuds
# HTTP (health, metrics, APIs) 8081-8085; gRPC 50051-50055. Services listen on
# 127.0.0.1 unless OMBUDS_HTTP_ADDR / OMBUDS_GRPC_ADDR say otherwise (compose sets 0.0.0.0).
EXPOSE 8081 8082 8083 8084 8085 8090 8091 50051 50052 50053 50054 50055
CMD ["ombudsctl", "--help"]
