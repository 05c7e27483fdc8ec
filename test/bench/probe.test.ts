// The benchmark probe (dist/bench/probe.js) preloaded into a real child process: its outliving
// profile counts what is still alive or was promoted, not the short-lived garbage the young
// generation still held when the profile stopped, nor the probe's own allocations.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PROBE = pathToFileURL(fileURLToPath(new URL('../../dist/bench/probe.js', import.meta.url))).href;

// On 'alloc': keeps RETAINED bytes alive and makes GARBAGE bytes of short-lived objects, then
// answers. Small enough that the garbage may well still be in the young generation at the stop.
const CHILD = `
const kept = [];
process.on('message', (m) => {
  if (m !== 'alloc') return;
  for (let i = 0; i < 200; i++) kept.push(new Array(126).fill(i));
  let sink = 0;
  for (let i = 0; i < 600; i++) sink += new Array(126).fill(i).length;
  process.send({ done: sink, kept: kept.length });
});
process.send('ready');
`;

interface Node {
  callFrame: { url: string };
  selfSize: number;
  children: Node[];
}

let dir: string;
let child: ChildProcess;
let port: number;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function nextMessage(): Promise<unknown> {
  return new Promise((resolve) => child.once('message', resolve));
}

async function call(path: string): Promise<unknown> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST' });
  expect(r.status).toBe(200);
  return r.json();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-probe-test-'));
  const script = join(dir, 'child.mjs');
  await writeFile(script, CHILD);
  port = await freePort();
  child = spawn(process.execPath, ['--import', PROBE, script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, TOLLGATE_BENCH_PROBE_PORT: String(port) } });
  expect(await nextMessage()).toBe('ready');
  // The probe listens once its module ran; the child's first message comes after that.
});

afterAll(async () => {
  child?.kill();
  await rm(dir, { recursive: true, force: true });
});

function walk(n: Node, visit: (n: Node) => void): void {
  visit(n);
  for (const c of n.children) walk(c, visit);
}

describe('bench probe: the outliving profile', () => {
  it('counts what stayed alive, not the garbage still in the young generation or the profile itself', async () => {
    await call('/heap/start-outliving');
    const done = nextMessage();
    child.send('alloc');
    expect(await done).toMatchObject({ kept: 200 });
    const p = (await call('/heap/stop')) as { head: Node; scavenges: number; fullCollections: number };
    expect(typeof p.scavenges).toBe('number');
    expect(typeof p.fullCollections).toBe('number');
    let total = 0;
    let probeFrames = 0;
    walk(p.head, (n) => {
      total += n.selfSize;
      if (n.callFrame.url === PROBE) probeFrames++;
    });
    expect(probeFrames).toBe(0);
    // 200 arrays of 126 elements are kept (~1 KiB each); 600 more were garbage at once. A sampled
    // figure (4 KiB interval) near the kept bytes; with the garbage it would be about four times that.
    const kept = 200 * (126 * 8 + 16);
    if (p.fullCollections === 0) {
      expect(total).toBeGreaterThan(kept * 0.4);
      expect(total).toBeLessThan(kept * 2);
    }
  });
});
