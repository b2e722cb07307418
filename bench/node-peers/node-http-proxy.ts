// node-http-proxy (the `http-proxy` package) contender: node:http server,
// one keep-alive http.Agent per upstream, consistent hash on `key`.
// Usage: node bench/node-peers/node-http-proxy.ts HOST:PORT UPSTREAM[,UPSTREAM...]

import http from 'node:http';
import httpProxy from 'http-proxy';
import { createHashPick, parseUpstreams, queryParam } from './hash-pick.ts';

const [listen, upstreamList] = process.argv.slice(2);
const targets = parseUpstreams(upstreamList).map(({ host, port }) => ({
  id: `${host}:${port}`,
  value: { target: `http://${host}:${port}`, agent: new http.Agent({ keepAlive: true, maxSockets: 64 }) },
}));
const ring = await createHashPick(targets);
const proxy = httpProxy.createProxyServer({ xfwd: false });
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
  proxy.web(req, res, ring.pick(queryParam(req.url ?? '', 'key')));
});
const colon = listen.lastIndexOf(':');
server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon));
process.once('SIGTERM', () => process.exit(0));
