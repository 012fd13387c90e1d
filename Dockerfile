# Build: the whole workspace is needed to resolve it, only the service is built.
FROM rust:1-bookworm AS builder
WORKDIR /src
# The `kerberos` feature (Integrated Security through MIT GSSAPI): its headers, and libclang for
# the bindgen build step. The default build needs none of it; the image has Kerberos built in.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libkrb5-dev libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p qoe-data-service --features kerberos \
 && cp target/release/qoe-data-service /usr/local/bin/qoe-data-service

# Run: a small image, a user without privileges, no shell tools needed for the healthcheck.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata libgssapi-krb5-2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home qoe
COPY --from=builder /usr/local/bin/qoe-data-service /usr/local/bin/qoe-data-service
USER 10001
EXPOSE 8080
ENV QOE_HTTP__LISTEN=0.0.0.0:8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["qoe-data-service", "healthcheck"]
ENTRYPOINT ["qoe-data-service"]
CMD ["serve"]
