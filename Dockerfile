# promptd in a container: one build stage, then the binary alone on a slim Debian image.
#   docker build -t promptd .
#   docker run -p 4000:4000 -e PROMPTD_MASTER_KEY=sk-... -v promptd-data:/data promptd
FROM rust:1.95-slim-bookworm AS build
# gcc for the bundled SQLite (rust:*-slim has no C compiler).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p promptd && strip target/release/promptd

FROM debian:bookworm-slim
# ca-certificates: TLS to model providers (OpenAI, …) checks the system's trust store.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data promptd && mkdir -p /data && chown promptd /data
COPY --from=build /src/target/release/promptd /usr/local/bin/promptd
USER promptd
WORKDIR /data
ENV PROMPTD_HOST=0.0.0.0 PROMPTD_PORT=4000 PROMPTD_DATABASE_URL=sqlite:///data/promptd.db
EXPOSE 4000
# A master key is required when listening on 0.0.0.0: pass PROMPTD_MASTER_KEY at run time.
ENTRYPOINT ["promptd"]
CMD ["serve"]
