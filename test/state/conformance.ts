// One conformance suite for every state store implementation, run against a real directory and a
// real PostgreSQL. Cross-process behaviour is checked with child processes (child.mjs) writing
// through the built store.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Change, StateStore } from '../../src/state/store.js';

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));

export interface StoreUnderTest {
  /** Opens a new store instance on the same data. */
  open(): Promise<StateStore>;
  /** What child processes pass to openStateStore. */
  readonly target: { dir?: string; db?: string };
}

export const uid = (): string => randomBytes(4).toString('hex');

export interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  /** Resolves when a line matching `test` has been printed. */
  waitLine(test: (line: string) => boolean, ms?: number): Promise<string>;
  exited(): Promise<number | null>;
}

export function spawnChild(spec: Record<string, unknown>, as?: { uid: number; gid: number }): Child {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'], ...as });
  const lines: string[] = [];
  let stderr = '';
  let buf = '';
  const waiters: Array<() => void> = [];
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    waitLine: (test, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`child did not print the expected line in ${ms} ms; stdout: ${lines.slice(-5).join(' | ')}; stderr: ${stderr}`)), ms);
        const check = (): void => {
          const hit = lines.find(test);
          if (hit !== undefined) {
            clearTimeout(t);
            resolve(hit);
          } else if (proc.exitCode !== null) {
            clearTimeout(t);
            reject(new Error(`child exited (${proc.exitCode}) before printing the expected line: ${stderr}`));
          } else waiters.push(check);
        };
        check();
      }),
    exited: () => exit,
  };
}

export async function runChild(spec: Record<string, unknown>, as?: { uid: number; gid: number }): Promise<string[]> {
  const c = spawnChild(spec, as);
  const code = await c.exited();
  if (code !== 0) throw new Error(`child ${String(spec['action'])} exited ${code}`);
  return c.lines;
}

/** Waits until `pred` holds over what was collected; the deadline bounds correctness, not speed. */
export async function eventually(what: string, pred: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function stateConformance(name: string, setup: () => Promise<StoreUnderTest & { teardown(): Promise<void> }>): void {
  describe(`state store conformance: ${name}`, () => {
    let sut: StoreUnderTest & { teardown(): Promise<void> };
    let store: StateStore;

    beforeAll(async () => {
      sut = await setup();
      store = await sut.open();
    });
    afterAll(async () => {
      await store?.close();
      await sut?.teardown();
    });

    it('creates with ifVersion 0, then updates with the version it read', async () => {
      const kind = `k${uid()}`;
      expect(await store.get(kind, 'a')).toBeUndefined();
      expect(await store.put(kind, 'a', { name: 'first', n: 1, tags: ['x'], nested: { ok: true, none: null } }, 0)).toEqual({ ok: true, version: 1 });
      expect(await store.get(kind, 'a')).toEqual({ id: 'a', version: 1, doc: { name: 'first', n: 1, tags: ['x'], nested: { ok: true, none: null } } });
      expect(await store.put(kind, 'a', { name: 'second' }, 1)).toEqual({ ok: true, version: 2 });
      expect((await store.get(kind, 'a'))?.doc).toEqual({ name: 'second' });
    });

    it('stores any plain JSON document as it was given', async () => {
      const kind = `k${uid()}`;
      const docs: unknown[] = [null, 'text', 0, -12.5, true, [], {}, [1, 'two', { three: [null] }], { 'unicode ✓': 'ünï', big: 2 ** 52, empty: '' }];
      for (const [i, doc] of docs.entries()) expect((await store.put(kind, `d${i}`, doc, 0)).ok).toBe(true);
      for (const [i, doc] of docs.entries()) expect((await store.get(kind, `d${i}`))?.doc).toEqual(doc);
    });

    it('refuses ifVersion 0 on an existing record and a stale version, returning what is stored', async () => {
      const kind = `k${uid()}`;
      await store.put(kind, 'a', { v: 1 }, 0);
      expect(await store.put(kind, 'a', { v: 'again' }, 0)).toEqual({ ok: false, current: { id: 'a', version: 1, doc: { v: 1 } } });
      await store.put(kind, 'a', { v: 2 }, 1);
      expect(await store.put(kind, 'a', { v: 'stale' }, 1)).toEqual({ ok: false, current: { id: 'a', version: 2, doc: { v: 2 } } });
      expect(await store.put(kind, 'missing', { v: 1 }, 3)).toEqual({ ok: false, current: undefined });
    });

    it('lets exactly one of two concurrent writers naming the same version win', async () => {
      const kind = `k${uid()}`;
      const other = await sut.open();
      try {
        for (let round = 0; round < 10; round++) {
          const id = `r${round}`;
          const created = await Promise.all([store.put(kind, id, { by: 'a' }, 0), other.put(kind, id, { by: 'b' }, 0)]);
          expect(created.filter((r) => r.ok)).toHaveLength(1);
          const updated = await Promise.all([store.put(kind, id, { by: 'a2' }, 1), other.put(kind, id, { by: 'b2' }, 1)]);
          expect(updated.filter((r) => r.ok)).toHaveLength(1);
          const loser = updated.find((r) => !r.ok);
          expect(loser?.ok === false && loser.current?.version).toBe(2);
        }
      } finally {
        await other.close();
      }
    });

    it('serialises compare-and-set across processes: two processes incrementing one counter lose no update', async () => {
      const kind = `k${uid()}`;
      const spec = { target: sut.target, action: 'increment', kind, id: 'counter', times: 15 };
      await Promise.all([runChild(spec), runChild(spec)]);
      expect(await store.get(kind, 'counter')).toEqual({ id: 'counter', version: 30, doc: { count: 30 } });
    });

    it('lists a kind in id order, and nothing of other kinds', async () => {
      const kind = `k${uid()}`;
      const ids = ['b', 'a', 'Z', 'z', 'key-10', 'key-9', 'with space', 'ünï', 'a.b/c'];
      for (const id of ids) await store.put(kind, id, { id }, 0);
      await store.put(`${kind}x`, 'other', {}, 0);
      const listed = await store.list(kind);
      expect(listed.map((d) => d.id)).toEqual([...ids].sort());
      expect(listed.every((d) => d.version === 1 && (d.doc as { id: string }).id === d.id)).toBe(true);
      expect(await store.list(`k${uid()}`)).toEqual([]);
    });

    it('refuses what it cannot store faithfully, with a clear reason', async () => {
      await expect(store.put('k', 'a', { n: Number.NaN }, 0)).rejects.toThrow(/doc\.n is NaN/);
      await expect(store.put('k', 'a', { d: new Date() }, 0)).rejects.toThrow(/not a plain object/);
      await expect(store.put('k', '', {}, 0)).rejects.toThrow(/non-empty/);
      await expect(store.put('k', 'a', {}, -1)).rejects.toThrow(/ifVersion/);
      await expect(store.addSpend([{ subject: 's', window: 'w', micros: 1.5 }])).rejects.toThrow(/integer number of micro-units/);
    });

    it('keeps spend totals exact under 200 concurrent addSpend calls', async () => {
      const s = `key:${uid()}`;
      const w = 'month:2026-12';
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          store.addSpend([
            { subject: s, window: w, micros: 1_000 + i },
            { subject: `team:${s}`, window: w, micros: 7 },
          ]),
        ),
      );
      expect(await store.spend(s, w)).toBe(200 * 1_000 + (199 * 200) / 2);
      expect(await store.spend(`team:${s}`, w)).toBe(1_400);
      expect(await store.spend(s, 'month:2026-11')).toBe(0);
      // A second instance (another worker) reads the same totals.
      const other = await sut.open();
      try {
        expect(await other.spend(s, w)).toBe(200 * 1_000 + (199 * 200) / 2);
      } finally {
        await other.close();
      }
    });

    it('adds the same subject and window twice in one call, and returns every total in the windows asked for', async () => {
      const s = `key:${uid()}`;
      await store.addSpend([
        { subject: s, window: 'w1', micros: 5 },
        { subject: s, window: 'w1', micros: 6 },
        { subject: s, window: 'w2', micros: 100 },
        { subject: `${s}b`, window: 'w1', micros: 1 },
        { subject: s, window: 'w3', micros: 9 },
      ]);
      await store.addSpend([]);
      const got = (await store.spendIn(['w1', 'w2', 'nothing'])).filter((e) => e.subject.startsWith(s));
      expect(got).toEqual([
        { subject: s, window: 'w1', micros: 11 },
        { subject: s, window: 'w2', micros: 100 },
        { subject: `${s}b`, window: 'w1', micros: 1 },
      ]);
      expect(await store.spendIn([])).toEqual([]);
    });

    it('tells subscribers of a write made by another process, and of its own', async () => {
      const kind = `k${uid()}`;
      const seen: Change[] = [];
      const stop = store.subscribe((c) => seen.push(c));
      try {
        const lines = await runChild({ target: sut.target, action: 'put', kind, id: 'from-child', doc: { hello: 'world' }, ifVersion: 0 });
        expect(JSON.parse(lines[0]!)).toEqual({ ok: true, version: 1 });
        await eventually('change from another process', () => seen.some((c) => c.kind === kind && c.id === 'from-child'));
        expect((await store.get(kind, 'from-child'))?.doc).toEqual({ hello: 'world' });
        await store.put(kind, 'own', {}, 0);
        await eventually('change from this process', () => seen.some((c) => c.kind === kind && c.id === 'own'));
      } finally {
        stop();
      }
      const after = seen.length;
      await runChild({ target: sut.target, action: 'put', kind, id: 'after-unsubscribe', doc: {}, ifVersion: 0 });
      await store.put(kind, 'own-after', {}, 0);
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.filter((c) => c.kind === kind).length).toBe(after);
    });

    it('keeps every acknowledged record write of a process killed with SIGKILL mid-writes', async () => {
      const kind = `k${uid()}`;
      const child = spawnChild({ target: sut.target, action: 'put-forever', kind });
      await child.waitLine((l) => l === 'ack 30');
      child.proc.kill('SIGKILL');
      await child.exited();
      const acked = child.lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4)));
      const reopened = await sut.open();
      try {
        const ids = new Set((await reopened.list(kind)).map((d) => d.id));
        for (const n of acked) expect(ids.has(`r${String(n).padStart(6, '0')}`)).toBe(true);
        // Whatever the child held when it died, the next writer gets through.
        expect((await reopened.put(kind, 'after-crash', {}, 0)).ok).toBe(true);
      } finally {
        await reopened.close();
      }
    });

    it('keeps every acknowledged spend of a process killed with SIGKILL mid-writes', async () => {
      const subject = `key:${uid()}`;
      const child = spawnChild({ target: sut.target, action: 'spend-forever', subject, window: 'w' });
      await child.waitLine((l) => l === 'ack 200');
      child.proc.kill('SIGKILL');
      await child.exited();
      const acked = child.lines.filter((l) => l.startsWith('ack ')).length;
      const reopened = await sut.open();
      try {
        const total = await reopened.spend(subject, 'w');
        expect(total).toBeGreaterThanOrEqual(acked);
        // Each call counts all its entries or none.
        expect(await reopened.spend(`${subject}/x2`, 'w')).toBe(2 * total);
      } finally {
        await reopened.close();
      }
    });
  });
}
