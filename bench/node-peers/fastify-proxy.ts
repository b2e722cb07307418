// fastify + @fastify/http-proxy contender (undici to the upstreams),
// consistent hash on `key` through reply-from's getUpstream. With `h2c` the
// fastify server speaks cleartext HTTP/2 (prior knowledge) and still
// forwards HTTP/1.1.
// Usage: node bench/node-peers/fastify-proxy.ts HOST:PORT http1|h2c UPSTREAM[,UPSTREAM...]

import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import fastifyHttpProxy from '@fastify/http-proxy';
import { createHashPick, parseUpstreams, queryParam } from './hash-pick.ts';

const [listen, protocol, upstreamList] = process.argv.slice(2);
const origins = parseUpstreams(upstreamList).map(({ host, port }) => ({ id: `${host}:${port}`, value: `http://${host}:${port}` }));
const ring = await createHashPick(origins);
const app = (protocol === 'h2c' ? Fastify({ logger: false, http2: true }) : Fastify({ logger: false })) as unknown as FastifyInstance;
await app.register(fastifyHttpProxy, {
  upstream: origins[0].value,
  undici: { connections: 64, pipelining: 1, keepAliveTimeout: 300_000 },
  replyOptions: { getUpstream: (request) => ring.pick(queryParam(request.url, 'key')) },
});
const colon = listen.lastIndexOf(':');
await app.listen({ host: listen.slice(0, colon), port: Number(listen.slice(colon + 1)) });
process.once('SIGTERM', () => process.exit(0));
