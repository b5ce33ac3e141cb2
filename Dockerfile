# bucketgate: an S3-compatible gateway.
#   docker build -t bucketgate .
#   docker run -p 9000:9000 -p 9001:9001 -v bucketgate-data:/data \
#     -e BUCKETGATE_ROOT_ACCESS_KEY=... -e BUCKETGATE_ROOT_SECRET_KEY=... bucketgate

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    && install -m 0755 target/release/bucketgate /usr/local/bin/bucketgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid so that volume ownership is predictable.
RUN groupadd --system --gid 10001 bucketgate \
    && useradd --system --uid 10001 --gid bucketgate --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin bucketgate \
    && mkdir -p /data \
    && chown bucketgate:bucketgate /data
COPY --from=build /usr/local/bin/bucketgate /usr/local/bin/bucketgate
USER bucketgate
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9000 9001
STOPSIGNAL SIGTERM
ENTRYPOINT ["bucketgate", "serve", "--data-dir", "/data", "--listen", "0.0.0.0:9000", "--admin-listen", "0.0.0.0:9001"]
