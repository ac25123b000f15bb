# Two images from one file, both with clx, the shipped plugins and every tool
# they run (Python kernels with ipykernel, Deno, Java + JJava + PlantUML,
# Chromium + draw.io, Graphviz):
#
# * `author` — for course authors on Windows or macOS: `clx build` and
#   `clx serve` on a course folder mounted at /course. The wrappers
#   scripts/clx-container (bash) and scripts/clx-container.ps1 (PowerShell)
#   run it; see "Platforms" in the README.
#
#     docker build --target author -t clx-author .
#
# * `worker` (the default) — `clx worker serve` for machines that serve
#   builds through a shared PostgreSQL queue.
#
#     docker build -t clx-worker .
#     docker run --rm --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#         -e CLX_QUEUE_URL='postgres://clx:SECRET@db.example/clx?sslmode=verify-full' \
#         clx-worker --types notebook --jobs 2
#
#   Every kernel runs under bubblewrap (`--sandbox`), which needs the two
#   --security-opt to create its namespaces; the worker's user has no home
#   directory and keeps everything, tool caches included, in CLX_HOME.
#
# A worker image must hold the same clx release and tools as the machines
# that start builds: jobs are claimed only by workers whose plugin libraries
# and tool identities match what the build computed its cache keys with.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p clx -p clx-plugin-notebook -p clx-plugin-plantuml \
        -p clx-plugin-drawio -p clx-plugin-graphviz

FROM debian:bookworm-slim AS tools
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        ca-certificates python3 python3-venv npm \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin clx \
    && install -d -o clx -g clx /var/lib/clx
WORKDIR /opt/clx
COPY scripts/setup scripts/setup
# Tools go to a fixed dir every user of the image can read.
ENV CLX_TOOLS_DIR=/opt/clx/tools
RUN scripts/setup --kernels python,typescript,java && rm -rf /var/lib/apt/lists/* /root/.npm
COPY --from=build /src/target/release/clx /usr/local/bin/clx
COPY --from=build /src/target/release/libclx_plugin_*.so /usr/local/lib/clx/plugins/

FROM tools AS author
# The state (queue, cache, course environments) lives in a volume, so a
# second run finds the cache; any user id may write it, because the
# wrappers run clx as the author's own user to keep the output theirs.
RUN mkdir -m 1777 /state
ENV CLX_HOME=/state
VOLUME /state
WORKDIR /course
EXPOSE 8000
ENTRYPOINT ["clx"]
CMD ["build"]

FROM tools AS worker
USER clx
ENV CLX_HOME=/var/lib/clx
ENTRYPOINT ["clx", "worker", "serve", "--sandbox"]
