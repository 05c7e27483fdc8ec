// The file state store: the shared conformance suite on a real temp directory, plus what only a
// directory has (torn journal lines, locks left by dead processes, compaction, unusable paths).
import { appendFile, chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/state/file.js';
import { openStateStore, StateStoreError } from '../../src/state/index.js';
import { eventually, runChild, spawnChild, stateConformance, uid } from './conformance.js';

stateConformance('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-state-'));
  return {
    target: { dir },
    open: () => FileStateStore.open({ dir }),
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('file state store', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tollgate-state-file-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('skips a torn last journal line of a killed process, and compacts its journal away on the next open', async () => {
    const dir = join(root, uid());
    const subject = 'key:torn';
    const child = spawnChild({ target: { dir }, action: 'spend-forever', subject, window: 'w' });
    await child.waitLine((l) => l === 'ack 50');
    child.proc.kill('SIGKILL');
    await child.exited();
    const acked = child.lines.filter((l) => l.startsWith('ack ')).length;
    const journals = (await readdir(join(dir, 'spend'))).filter((n) => n.startsWith(`journal-${child.proc.pid}-`));
    expect(journals).toHaveLength(1);
    // What a crash in the middle of write(2) leaves: a line without its end.
    await appendFile(join(dir, 'spend', journals[0]!), '[["key:torn","w",1000000],["key:torn/x2","w",20');

    const warnings: string[] = [];
    const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined, child: () => logger };
    const store = await FileStateStore.open({ dir, logger });
    try {
      const total = await store.spend(subject, 'w');
      expect(total).toBeGreaterThanOrEqual(acked);
      expect(total).toBeLessThan(1_000_000);
      expect(await store.spend(`${subject}/x2`, 'w')).toBe(2 * total);
      expect(warnings.some((w) => w.includes('torn last line'))).toBe(true);
      // The dead process's journal was folded into the snapshot and removed; totals are unchanged.
      expect((await readdir(join(dir, 'spend'))).filter((n) => n.startsWith(`journal-${child.proc.pid}-`))).toEqual([]);
      await store.addSpend([{ subject, window: 'w', micros: 1 }]);
      const again = await FileStateStore.open({ dir });
      try {
        expect(await again.spend(subject, 'w')).toBe(total + 1);
      } finally {
        await again.close();
      }
    } finally {
      await store.close();
    }
  });

  it('keeps totals exact while other processes compact under a reader', async () => {
    const dir = join(root, uid());
    const a = await FileStateStore.open({ dir });
    try {
      let expected = 0;
      for (let round = 0; round < 5; round++) {
        await a.addSpend([{ subject: 's', window: 'w', micros: 10 }]);
        expected += 10;
        // Each open compacts (folds journals into a new snapshot generation).
        const b = await FileStateStore.open({ dir });
        await b.addSpend([{ subject: 's', window: 'w', micros: 1 }]);
        expected += 1;
        expect(await a.spend('s', 'w')).toBe(expected);
        await b.close();
        expect(await a.spend('s', 'w')).toBe(expected);
      }
      const names = await readdir(join(dir, 'spend'));
      expect(names.filter((n) => n.startsWith('totals-'))).toHaveLength(1);
    } finally {
      await a.close();
    }
  });

  it('keeps totals exact while journals rotate and compact under concurrent writers and readers', async () => {
    const dir = join(root, uid());
    // Tiny journals: every few batches a process seals its journal and compacts.
    const [a, b] = await Promise.all([FileStateStore.open({ dir, journalBytes: 300 }), FileStateStore.open({ dir, journalBytes: 300 })]);
    try {
      const reads: Array<Promise<number>> = [];
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          await (i % 2 === 0 ? a : b).addSpend([{ subject: 'key:r', window: 'w', micros: i + 1 }]);
          if (i % 10 === 0) reads.push((i % 20 === 0 ? b : a).spend('key:r', 'w'));
        }),
      );
      for (const r of await Promise.all(reads)) expect(r).toBeLessThanOrEqual(20_100);
      expect(await a.spend('key:r', 'w')).toBe(20_100);
      expect(await b.spend('key:r', 'w')).toBe(20_100);
      await Promise.all([a.close(), b.close()]);
      const names = await readdir(join(dir, 'spend'));
      expect(names.filter((n) => n.startsWith('totals-')).length).toBeGreaterThanOrEqual(1);
      const c = await FileStateStore.open({ dir });
      try {
        expect(await c.spend('key:r', 'w')).toBe(20_100);
        // Everything was folded in at this open: no journal of a closed store is left.
        expect((await readdir(join(dir, 'spend'))).filter((n) => n.startsWith('journal-'))).toEqual([]);
      } finally {
        await c.close();
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('takes over a lock left by a dead process and tells subscribers to reload', async () => {
    const dir = join(root, uid());
    const store = await FileStateStore.open({ dir });
    let resyncs = 0;
    const stop = store.subscribe(
      () => undefined,
      () => resyncs++,
    );
    try {
      // pid 2^22+1 is above Linux's default pid_max: never a live process.
      await writeFile(join(dir, 'records.lock'), `4194305 deadbeef ${new Date().toISOString()}\n`);
      expect(await store.put('key', 'a', {}, 0)).toEqual({ ok: true, version: 1 });
      await eventually('resync after a broken lock', () => resyncs > 0);
    } finally {
      stop();
      await store.close();
    }
  });

  it('names the path and the fix when the directory cannot be used', async () => {
    const file = join(root, `file-${uid()}`);
    await writeFile(file, 'not a directory');
    const err = await FileStateStore.open({ dir: join(file, 'state') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateStoreError);
    expect((err as StateStoreError).message).toContain(file);
    expect((err as StateStoreError).message).toMatch(/not a directory/);
    expect((err as StateStoreError).hint).toMatch(/--state-dir/);
  });

  it('encodes ids so that case and punctuation never collide', async () => {
    const store = await FileStateStore.open({ dir: join(root, uid()) });
    try {
      for (const id of ['a', 'A', '^a', '%41', '..', '.', 'a/b', 'a\\b']) expect((await store.put('key', id, { id }, 0)).ok).toBe(true);
      for (const id of ['a', 'A', '^a', '%41', '..', '.', 'a/b', 'a\\b']) expect((await store.get('key', id))?.doc).toEqual({ id });
      await expect(store.put('key', 'x'.repeat(201), {}, 0)).rejects.toThrow(/at most 200/);
    } finally {
      await store.close();
    }
  });
  it('names the path and the fix when the directory is not writable by the gateway\'s user', async () => {
    // Root may write anywhere, so the check runs the store as an unprivileged user.
    const nobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    const dir = join(root, `locked-${uid()}`);
    await mkdir(dir, { mode: 0o755 });
    if (nobody === undefined) await chmod(dir, 0o555);
    const [line] = await runChild({ action: 'open', target: { dir: join(dir, 'state') } }, nobody);
    const out = JSON.parse(line!);
    expect(out.error).toContain(join(dir, 'state'));
    expect(out.error).toMatch(/not writable/);
    expect(out.hint).toMatch(/chown\/chmod|--state-dir/);
  });
});

describe('openStateStore', () => {
  it('needs exactly one of a directory and a database', async () => {
    await expect(openStateStore({})).rejects.toThrow(/no state store was chosen/);
    await expect(openStateStore({ dir: '/tmp/x', db: 'postgres://localhost/x' })).rejects.toThrow(/choose one/);
    await expect(openStateStore({ db: 'mysql://u:hunter2@h/db' })).rejects.toThrow(/postgres:\/\//);
    await expect(openStateStore({ db: 'mysql://u:hunter2@h/db' })).rejects.not.toThrow(/hunter2/);
  });
});
