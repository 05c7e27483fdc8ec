// `bench overhead --compare REF --paired N`: the statistics of the pairs as pure functions, and the
// pairs measured over real sockets against two real server processes, one of which does far more
// work per request, so a pair that charged one build's window to the other would show.
import { spawn, type ChildProcess } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { comparePaired, formatPaired, pairedRow, signTest, spread, type Pair, type Window } from '../../src/bench/overhead-paired.js';
import type { Target } from '../../src/bench/overhead-rounds.js';
import type { PairProcesses } from '../../src/bench/overhead-paired.js';
import { stopChild } from '../../src/bench/procs.js';

describe('signTest', () => {
  it('gives the exact two-sided binomial tail', () => {
    expect(signTest(0, 0)).toBe(1);
    expect(signTest(5, 5)).toBe(1);
    expect(signTest(10, 0)).toBeCloseTo(2 / 1024, 12);
    // P(X <= 1) for n = 10: (1 + 10) / 1024, doubled.
    expect(signTest(9, 1)).toBeCloseTo(22 / 1024, 12);
    expect(signTest(1, 9)).toBe(signTest(9, 1));
  });

  it('is symmetric, within (0, 1], and smaller for a more lopsided split of the same pairs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 }), (a, b) => {
        const p = signTest(a, b);
        expect(p).toBe(signTest(b, a));
        expect(p).toBeGreaterThan(0);
        expect(p).toBeLessThanOrEqual(1);
        if (a > b) expect(signTest(a + 1, b - 1 < 0 ? 0 : b - 1)).toBeLessThanOrEqual(p);
      }),
    );
  });
});

describe('spread', () => {
  it('interpolates the median and quartiles between ranks', () => {
    expect(spread([5, 1, 3, 2, 4])).toEqual({ median: 3, q1: 2, q3: 4 });
    expect(spread([1, 2, 3, 4])).toEqual({ median: 2.5, q1: 1.75, q3: 3.25 });
    expect(spread([7])).toEqual({ median: 7, q1: 7, q3: 7 });
  });

  it('keeps q1 <= median <= q3 within the values, whatever their order', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 }), (xs) => {
        const s = spread(xs);
        expect(s.q1).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.q3);
        expect(s.q1).toBeGreaterThanOrEqual(Math.min(...xs));
        expect(s.q3).toBeLessThanOrEqual(Math.max(...xs));
      }),
    );
  });
});

const win = (cpu: number, rps = 1000): Window => ({ requests: rps, rps, cpuUsPerRequest: cpu, p50Ms: 1, firstByteP50Ms: 0.5 });

describe('pairedRow', () => {
  it('takes each ratio within its pair, so a drift that moves both windows of a pair cancels', () => {
    // The machine gets twice as slow over the run; the current build is 10% cheaper in every pair.
    const pairs: Pair[] = [1, 1.25, 1.5, 1.75, 2].map((drift, k) => ({ now: win(90 * drift), ref: win(100 * drift), nowFirst: k % 2 === 0 }));
    const row = pairedRow('tollgate', 'json', 16, 3000, pairs);
    expect(row.cpuRatio.median).toBeCloseTo(0.9, 12);
    expect(row.cpuRatio.q1).toBeCloseTo(0.9, 12);
    expect(row.cpuRatio.q3).toBeCloseTo(0.9, 12);
    expect(row.cheaper).toBe(5);
    expect(row.dearer).toBe(0);
    expect(row.signP).toBeCloseTo(2 / 32, 12);
    const text = formatPaired([row], 'HEAD~1');
    expect(text).toContain('against HEAD~1');
    expect(text).toMatch(/tollgate\s+json\s+16\s+0\.900 \[0\.900–0\.900\]/);
    expect(text).toContain('5/5');
  });

  it('leaves ties out of the sign test', () => {
    const row = pairedRow('t', 'stream', 1, 1000, [{ now: win(100), ref: win(100), nowFirst: true }, { now: win(99), ref: win(100), nowFirst: false }]);
    expect(row.cheaper).toBe(1);
    expect(row.dearer).toBe(0);
    expect(row.signP).toBe(1);
  });
});

// A server that answers every request, after WORK rounds of hashing (a fixed amount of CPU).
const SERVER = `
const { createServer } = require('node:http');
const { createHash } = require('node:crypto');
const work = Number(process.argv[1]);
const s = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    let h = 'x';
    for (let i = 0; i < work; i++) h = createHash('sha256').update(h).digest('hex');
    res.end(h);
  });
});
s.listen(0, '127.0.0.1', () => console.log('ready ' + s.address().port));
`;

function startServer(work: number, name: string): Promise<{ child: ChildProcess; target: Target }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SERVER, String(work)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.stdout?.on('data', (d: Buffer) => {
      const m = /ready (\d+)/.exec(d.toString());
      if (m !== null) resolve({ child, target: { target: name, port: Number(m[1]), pids: () => [child.pid ?? 0] } });
    });
  });
}

describe('comparePaired over real sockets', () => {
  const all: ChildProcess[] = [];
  afterAll(() => {
    for (const c of all) c.kill();
  });

  it('starts both builds afresh for every pair and charges each window to the build that served it', async () => {
    const pids: number[][] = [];
    const start = async (): Promise<PairProcesses> => {
      const costly = await startServer(3000, 'costly');
      const cheap = await startServer(0, 'costly@ref');
      all.push(costly.child, cheap.child);
      pids.push([costly.child.pid ?? 0, cheap.child.pid ?? 0]);
      return { targets: [costly.target, cheap.target], stop: async () => void (await Promise.all([stopChild(costly.child), stopChild(cheap.child)])) };
    };
    const request = (): Buffer => Buffer.from('GET / HTTP/1.1\r\nhost: bench\r\n\r\n');
    const [row] = await comparePaired({ start, current: ['costly'], ref: 'ref', modes: ['json'], levels: [1], windowMs: 400, pairs: 4, warmupMs: 0, request });
    if (row === undefined) throw new Error('no row');
    expect(new Set(pids.flat()).size).toBe(8);
    expect(all.every((c) => c.exitCode !== null || c.signalCode !== null)).toBe(true);
    expect(row.pairs.map((p) => p.nowFirst)).toEqual([true, false, true, false]);
    for (const p of row.pairs) {
      expect(p.now.requests).toBeGreaterThan(0);
      expect(p.ref.requests).toBeGreaterThan(0);
      // Thousands of hashes against none: the costly server's CPU per request is far above the
      // cheap one's in every pair, or the pairing swapped them.
      expect(p.now.cpuUsPerRequest).toBeGreaterThan(p.ref.cpuUsPerRequest);
    }
    expect(row.dearer).toBe(4);
    expect(row.cpuRatio.median).toBeGreaterThan(1);
    expect(row.rpsRatio.median).toBeLessThan(1);
  });
});
