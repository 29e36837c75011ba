# syntax=docker/dockerfile:1
# One image for every CareFleet program: docker-compose.yml picks the program per service.
#   docker build -t carefleet .
#   docker run --rm carefleet /app/fleet --help

ARG SWIFT_IMAGE=swift:6.3-bookworm

# --- build: every executable in release mode ----------------------------------------------
FROM ${SWIFT_IMAGE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev \
      libcurl4-openssl-dev rapidjson-dev libpq-dev dpkg-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# librdkafka >= 2.8, built from Debian trixie's source package exactly as scripts/bootstrap does.
COPY scripts/install-librdkafka /usr/local/bin/install-librdkafka
RUN bash /usr/local/bin/install-librdkafka
WORKDIR /src
# Dependencies first, so that a change of our code does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib \
    && mkdir -p /out \
    && bin="$(swift build -c release --show-bin-path)" \
    && for program in ingress booking-worker notification-worker email-worker analytics-worker audit-worker webhook-worker waitlist-worker console fleet; do cp "$bin/$program" /out/; done \
    && cp -R "$bin"/*.resources /out/ \
    && cp -R config /out/config

# --- runtime: a slim Debian with the C libraries the programs link ------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpq5 libcurl4 libssl3 libsasl2-2 libzstd1 liblz4-1 zlib1g ca-certificates tzdata curl libjs-chart.js \
    && rm -rf /var/lib/apt/lists/*
# librdkafka from the build stage (the distribution's 2.0.2 is older than what we build against).
COPY --from=build /usr/local/lib/librdkafka.so.1 /usr/local/lib/
RUN ldconfig && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin carefleet
COPY --from=build --chown=root:root /out/ /app/
WORKDIR /app
ENV CAREFLEET_ENV=production CAREFLEET_CONFIG_DIR=/app/config
USER carefleet
EXPOSE 8080
CMD ["/app/ingress"]
