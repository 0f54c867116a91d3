# The gateway image. PostgreSQL and Redis run beside it (docker-compose.yml); the embedded
# PostgreSQL is for single-machine use without DATABASE_URL and is not used here.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY bench ./bench
COPY web ./web
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
# HTTP API (and the /phone and /console pages), SIP (UDP and TCP), SIP over WebSocket, RTP/RTCP relay ports (RTP_PORT_MIN-RTP_PORT_MAX).
EXPOSE 3000 5060/udp 5060/tcp 5066/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]
