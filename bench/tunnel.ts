// Tunnel figures for issue 21: the throughput of one WebSocket tunnel with
// large messages, through ringside (lean and compat engines) and straight to
// the replica, and the memory one open idle tunnel costs ringside (RSS delta
// over 1000 idle tunnels, lean engine).
//
// Three processes, so the numbers are ringside's alone: the replica (this
// file with `replica`: a node:http server whose 'upgrade' answers 101 and
// then echoes every byte, with backpressure), ringside (cmd/ringside.ts) and
// the client (this process: one masked 1 MiB binary frame, built once and
// sent again and again; the echo is counted, not parsed, so the tunnel is
// what is measured, not a WebSocket library).
// Run: npx node bench/tunnel.ts   (about 40 s; prints a markdown table)
// Every loop is bounded: a fixed byte count per round, 3 rounds, 1000 tunnels.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

const ROUND_BYTES = 512 * 1024 * 1024;
const FRAME_PAYLOAD = 1024 * 1024;
const ROUNDS = 3;
const IDLE_TUNNELS = 1000;
/** Every process this run started, killed by PID at the end whatever happens. */
const children: ChildProcess[] = [];

if (process.argv[2] === 'replica') {
  const server = http.createServer((_req, res) => res.end('ok'));
  server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: bench\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
} else {
  await main();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never opened`);
}

function startReplica(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, 'replica'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve) => child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) })));
}

async function startRingside(engine: string, upstreamPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const admin = await freePort();
  const cmd = new URL('../cmd/ringside.ts', import.meta.url).pathname;
  const child = spawn(
    process.execPath,
    [cmd, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--upstream', `static:127.0.0.1:${upstreamPort}`, '--engine', engine, '--log-level', 'warn', '--max-tunnels', '5000'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  await waitForPort(port);
  return { child, port };
}

/** HAProxy and nginx, one thread / worker each (ringside is one thread), as references when installed. */
async function startReference(kind: 'haproxy' | 'nginx', upstreamPort: number): Promise<{ child: ChildProcess; port: number } | null> {
  const bin = `/usr/sbin/${kind}`;
  if (!existsSync(bin)) return null;
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), `ringside-tunnel-${kind}-`));
  const conf = path.join(dir, `${kind}.conf`);
  if (kind === 'haproxy') {
    writeFileSync(
      conf,
      `global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n  timeout tunnel 1h\n` +
        `frontend f\n  bind 127.0.0.1:${port}\n  default_backend b\nbackend b\n  server s1 127.0.0.1:${upstreamPort}\n`,
    );
  } else {
    writeFileSync(
      conf,
      `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log stderr error;\nevents { worker_connections 4096; }\n` +
        `http {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  fastcgi_temp_path ${dir};\n  uwsgi_temp_path ${dir};\n  scgi_temp_path ${dir};\n` +
        `  server {\n    listen 127.0.0.1:${port};\n    location / {\n      proxy_pass http://127.0.0.1:${upstreamPort};\n      proxy_http_version 1.1;\n` +
        `      proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection "upgrade";\n      proxy_read_timeout 1h;\n      proxy_buffering off;\n    }\n  }\n}\n`,
    );
  }
  const args = kind === 'haproxy' ? ['-db', '-f', conf] : ['-p', dir, '-c', conf];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  try {
    await waitForPort(port);
  } catch {
    console.error(`${kind} did not start: left out`);
    return null;
  }
  return { child, port };
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

/** A WebSocket handshake on a new connection; resolves with the socket once the 101 head has arrived. */
function handshake(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', reject);
    s.write(`GET /bench HTTP/1.1\r\nhost: bench\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${randomBytes(16).toString('base64')}\r\nsec-websocket-version: 13\r\n\r\n`);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head.slice(0, 40)));
      else resolve(s);
    };
    s.on('data', onData);
  });
}

/** A masked binary frame of FRAME_PAYLOAD bytes (RFC 6455 section 5.2), built once. */
function frame(): Buffer {
  const head = Buffer.alloc(14);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(FRAME_PAYLOAD), 2);
  randomBytes(4).copy(head, 10);
  return Buffer.concat([head, randomBytes(FRAME_PAYLOAD)]);
}

/** Send ROUND_BYTES of frames and read the echo back through one tunnel: echoed MB/s (MiB/s, one way). */
async function throughput(port: number): Promise<number> {
  const s = await handshake(port);
  const f = frame();
  const frames = Math.floor(ROUND_BYTES / FRAME_PAYLOAD);
  const total = frames * f.length;
  const t0 = performance.now();
  let received = 0;
  const done = new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= total) resolve();
    });
  });
  let sent = 0;
  const pump = (): void => {
    while (sent < frames) {
      sent++;
      if (!s.write(f)) {
        s.once('drain', pump);
        return;
      }
    }
  };
  pump();
  await done;
  const seconds = (performance.now() - t0) / 1000;
  s.destroy();
  return total / 1024 / 1024 / seconds;
}

async function idleTunnelMemory(ringside: { child: ChildProcess; port: number }): Promise<{ perTunnelBytes: number; beforeKiB: number; afterKiB: number }> {
  // Warm the path (code compiled, buffers allocated) before the baseline.
  const warm = await Promise.all(Array.from({ length: 20 }, () => handshake(ringside.port)));
  for (const s of warm) s.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const pid = ringside.child.pid!;
  const beforeKiB = rssKiB(pid);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < IDLE_TUNNELS; i += 50) sockets.push(...(await Promise.all(Array.from({ length: 50 }, () => handshake(ringside.port)))));
  await new Promise((r) => setTimeout(r, 2000));
  const afterKiB = rssKiB(pid);
  for (const s of sockets) s.destroy();
  return { perTunnelBytes: ((afterKiB - beforeKiB) * 1024) / IDLE_TUNNELS, beforeKiB, afterKiB };
}

async function main(): Promise<void> {
  try {
    await run();
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

async function run(): Promise<void> {
  const replica = await startReplica();
  const lean = await startRingside('lean', replica.port);
  const compat = await startRingside('compat', replica.port);
  const haproxy = await startReference('haproxy', replica.port);
  const nginx = await startReference('nginx', replica.port);
  const paths: [string, number][] = [
    ['direct', replica.port],
    ['ringside lean', lean.port],
    ['ringside compat', compat.port],
  ];
  if (haproxy !== null) paths.push(['HAProxy (nbthread 1)', haproxy.port]);
  if (nginx !== null) paths.push(['nginx (1 worker)', nginx.port]);
  const results = new Map<string, number[]>(paths.map(([name]) => [name, []]));
  {
    for (const [, port] of paths) await throughput(port); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round: a neighbour's load hits every path alike.
      for (let i = 0; i < paths.length; i++) {
        const [name, port] = paths[(i + round) % paths.length];
        results.get(name)!.push(await throughput(port));
      }
    }
    // A fresh process per engine: the throughput rounds leave large buffers behind that GC returns later.
    const mems: [string, Awaited<ReturnType<typeof idleTunnelMemory>>][] = [];
    for (const engine of ['lean', 'compat']) {
      const fresh = await startRingside(engine, replica.port);
      mems.push([engine, await idleTunnelMemory(fresh)]);
      fresh.child.kill('SIGKILL');
    }
    const direct = median(results.get('direct')!);
    console.log(`One tunnel, ${FRAME_PAYLOAD / 1024 / 1024} MiB binary frames, ${ROUND_BYTES / 1024 / 1024} MiB echoed per round, ${ROUNDS} rounds (MiB/s one way, echoed):\n`);
    console.log('| path | median MiB/s | rounds | vs direct |');
    console.log('|---|--:|---|--:|');
    for (const [name] of paths) {
      const xs = results.get(name)!;
      console.log(`| ${name} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(', ')} | ${(median(xs) / direct).toFixed(2)} |`);
    }
    for (const [engine, mem] of mems) {
      console.log(`\nIdle tunnels (${engine}, fresh process): RSS ${mem.beforeKiB} KiB -> ${mem.afterKiB} KiB with ${IDLE_TUNNELS} open: ${(mem.perTunnelBytes / 1024).toFixed(1)} KiB per tunnel (client and upstream socket included).`);
    }
  }
}

function median(xs: number[]): number {
  return xs.slice().sort((a, b) => a - b)[xs.length >> 1];
}
