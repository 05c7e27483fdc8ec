// Many streams opened from one address while the worker is busy: the kernel must queue the new
// connections until the worker accepts them, not drop their handshakes. A child process opens the
// connections while this process's event loop is held (as a worker relaying thousands of streams
// can be held by a garbage collection or a starved core); every connection must complete its
// handshake in that time, and every stream must then get its first chunk and stay open.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startDataListener, type DataListener } from '../../src/server/listener.js';

const STREAMS = 1_000;

// Opens STREAMS connections, sends a request on each as it connects, and writes how many connected
// to the signal file once all did (or after a long wait, so a failing run ends); then reports how
// many streams got their first chunk and were still open, and exits.
const CLIENT = `
const net = require('node:net');
const fs = require('node:fs');
const [port, n, signal] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
const req = 'POST /v1/chat/completions HTTP/1.1\\r\\nhost: x\\r\\ncontent-length: 2\\r\\n\\r\\n{}';
let connected = 0, firsts = 0, closed = 0, signalled = false;
// Written beside the signal file and renamed onto it: the test polls for the file and reads it at
// once, and a file written in place can be seen while still empty.
const signalNow = () => { if (!signalled) { signalled = true; fs.writeFileSync(signal + '.part', String(connected)); fs.renameSync(signal + '.part', signal); } };
const giveUp = setTimeout(signalNow, 20000);
const report = () => { process.stdout.write(JSON.stringify({ connected, firsts, closed })); process.exit(0); };
const end = setTimeout(report, 60000);
for (let i = 0; i < n; i++) {
  const s = net.connect(port, '127.0.0.1', () => {
    s.write(req);
    if (++connected === n) { clearTimeout(giveUp); signalNow(); }
  });
  let seen = '';
  s.on('data', (d) => {
    if (seen === null) return;
    seen += d.toString('latin1');
    if (seen.includes('data: first')) { seen = null; if (++firsts === n) { clearTimeout(end); report(); } }
  });
  s.on('error', () => undefined);
  s.on('close', () => closed++);
}
`;

let listener: DataListener | undefined;
let dir: string | undefined;
let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill();
  child = undefined;
  listener?.destroyAll();
  listener?.stopAccepting();
  listener = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Holds this process's event loop (nothing is accepted or read) until `file` exists. */
function holdUntil(file: string): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(file)) Atomics.wait(nap, 0, 0, 10);
}

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());

// The kernel caps any listen backlog at net.core.somaxconn (4,096 by default since Linux 5.4).
it.skipIf(!(somaxconn > STREAMS))(`queues ${STREAMS} connections from one address opened while the worker is busy; every stream gets its first chunk`, async () => {
  listener = await startDataListener(
    { host: '127.0.0.1', port: 0, maxHeaderBytes: 16 * 1024, keepAliveTimeoutMs: 60_000, headersTimeoutMs: 60_000, maxConcurrentStreams: 100 },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // The stream stays open, as a model still generating would keep it. (The client speaks
        // HTTP/1.1.)
        (res as ServerResponse).write('data: first\n\n');
      });
    },
  );
  dir = mkdtempSync(join(tmpdir(), 'tollgate-backlog-'));
  const signal = join(dir, 'connected');
  const client = spawn(process.execPath, ['-e', CLIENT, String(listener.address.port), String(STREAMS), signal], { stdio: ['ignore', 'pipe', 'inherit'] });
  child = client;
  let out = '';
  client.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => client.on('exit', () => resolve()));

  holdUntil(signal);
  expect(Number(readFileSync(signal, 'utf8'))).toBe(STREAMS);

  await exited;
  const r = JSON.parse(out) as { connected: number; firsts: number; closed: number };
  expect(r).toEqual({ connected: STREAMS, firsts: STREAMS, closed: 0 });
  expect(listener.refused.connection_rate).toBe(0);
}, 120_000);

it('takes the backlog from TOLLGATE_LISTENER_BACKLOG and refuses 0', async () => {
  const { hardeningFromEnv } = await import('../../src/server/listener.js');
  expect(hardeningFromEnv({ TOLLGATE_LISTENER_BACKLOG: '8192' })).toEqual({ listenBacklog: 8192 });
  expect(() => hardeningFromEnv({ TOLLGATE_LISTENER_BACKLOG: '0' })).toThrow(/TOLLGATE_LISTENER_BACKLOG must be at least 1/);
});
