# syntax=docker/dockerfile:1
# Multi-stage: build with the Rust toolchain, run on a slim Debian with
# only the binary. The server runs as PUID:PGID (default 1000:1000), never
# as root; see deploy/docker/entrypoint.sh.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
RUN cargo build --release --locked --bin audiobook-organizer \
 && strip target/release/audiobook-organizer

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/audiobook-organizer /usr/local/bin/audiobook-organizer
COPY deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh
RUN chmod 0755 /usr/local/bin/entrypoint.sh \
 && mkdir -p /config /data /library /imports

# config.toml in /config, the store in /data, the organized library in
# /library, import folders (downloads, NAS mounts) under /imports.
VOLUME ["/config", "/data", "/library", "/imports"]
ENV PUID=1000 PGID=1000 \
    AO_CONFIG=/config/config.toml \
    AO_DB=/data/audiobook-organizer.redb \
    AO_DIR=/library \
    AO_HOST=0.0.0.0 \
    AO_PORT=8484
EXPOSE 8484
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["audiobook-organizer", "healthcheck", "--path", "/health"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/entrypoint.sh"]
CMD ["serve"]
