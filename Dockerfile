# syntax=docker/dockerfile:1
# Multi-stage. The runtime image holds nothing but the server (one
# statically linked binary, which is also the entrypoint), tini and the CA
# certificates. The server runs as PUID:PGID (default 1000:1000), never as
# root: `audiobook-organizer entrypoint` prepares /config and /data for that
# user and drops to it.
#
# The base images are build arguments, so the image builds where no public
# registry is reachable (CI bootstraps a Debian base with mmdebstrap and
# builds the binary on the host: scripts/container-test):
#   BUILD_IMAGE  has cargo, or already holds the binary at /out (then
#                nothing is compiled)
#   BASE_IMAGE   a Debian with tini and ca-certificates (installed here if
#                missing)
ARG BUILD_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
# glibc linked in statically (crt-static): nothing else is needed at run
# time.
RUN if [ -x /out/audiobook-organizer ]; then echo "using the prebuilt /out/audiobook-organizer"; \
    else target=$(rustc -vV | sed -n 's/^host: //p') \
      && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
           --target "$target" --bin audiobook-organizer \
      && mkdir -p /out \
      && cp "target/$target/release/audiobook-organizer" /out/ \
      && strip /out/audiobook-organizer; fi

FROM ${BASE_IMAGE} AS base
RUN if [ ! -x /usr/bin/tini-static ] || [ ! -e /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates tini \
      && rm -rf /var/lib/apt/lists/*; fi \
 && mkdir -p /rootfs/config /rootfs/data /rootfs/library /rootfs/imports /rootfs/tmp \
             /rootfs/etc/ssl/certs /rootfs/usr/local/bin \
 && chmod 1777 /rootfs/tmp \
 && cp /usr/bin/tini-static /rootfs/tini \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

FROM scratch
COPY --from=base /rootfs/ /
COPY --from=build /out/audiobook-organizer /usr/local/bin/audiobook-organizer

# config.toml in /config, the store in /data, the organized library in
# /library, import folders (downloads, NAS mounts) under /imports.
VOLUME ["/config", "/data", "/library", "/imports"]
ENV PATH=/usr/local/bin \
    PUID=1000 PGID=1000 \
    AO_CONFIG=/config/config.toml \
    AO_DB=/data/audiobook-organizer.redb \
    AO_DIR=/library \
    AO_HOST=0.0.0.0 \
    AO_PORT=8484 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 8484
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/audiobook-organizer", "healthcheck", "--path", "/health"]
ENTRYPOINT ["/tini", "--", "/usr/local/bin/audiobook-organizer", "entrypoint", "--"]
CMD ["serve"]
