# syntax=docker/dockerfile:1
# The sidelane image: one image for the capture init container (`sidelane init`) and the proxy (`sidelane run`).
# Stage 1 builds the C++ addon, the C connect() hook and the TypeScript; stage 2 is a slim Node 20 runtime with
# the capture tools. Build: docker build -t ghcr.io/sidelane/sidelane:$(node -p 'require("./package.json").version') .

ARG NODE_MAJOR=20

FROM node:${NODE_MAJOR}-bookworm AS build
WORKDIR /src
# node-gyp builds against the headers shipped with this Node instead of downloading them.
ENV npm_config_nodedir=/usr/local
# Dependency manifests first, so the npm layer is cached until they change.
COPY package.json package-lock.json ./
COPY binding.gyp tsconfig.json ./
COPY native ./native
COPY src ./src
# `npm ci` runs the package's install script (node-gyp rebuild: sidelane_addon.node and libsidelane_hook.so)
# and prepare (tsc → dist/); the checks fail the build if either artifact is missing.
RUN npm ci \
 && test -f build/Release/sidelane_addon.node \
 && test -f build/Release/libsidelane_hook.so \
 && test -f dist/src/cli/main.js \
 && npm prune --omit=dev

FROM node:${NODE_MAJOR}-bookworm-slim AS runtime
# The capture tools `sidelane init` drives: iptables (nft and legacy), nft, ip; libnftables1 is dlopen()ed by the
# addon for in-process nftables transactions.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables iproute2 libnftables1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/sidelane
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The addon finds build/Release relative to dist/src/native (src/native/addon.ts: nativeBuildDir).
COPY --from=build /src/build/Release/sidelane_addon.node ./build/Release/sidelane_addon.node
COPY --from=build /src/build/Release/libsidelane_hook.so ./build/Release/libsidelane_hook.so
RUN chmod 0755 dist/src/cli/main.js \
 && ln -s /opt/sidelane/dist/src/cli/main.js /usr/local/bin/sidelane \
 && sidelane version
ENTRYPOINT ["sidelane"]
CMD ["--help"]
