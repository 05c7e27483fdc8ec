// The list of request bodies still arriving (the listener's body deadline sweep): membership after
// any sequence of adds and deletes, including deletes from inside the sweep, matches a Set's.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BodyWatch, BodyWatchList } from '../../src/server/body-watch.js';

function watch(id: string): BodyWatch {
  // The sweep never touches req/res unless a deadline passes; these watches only test membership.
  return new BodyWatch({} as never, {} as never, () => 0, id, 0, 0);
}

function members(list: BodyWatchList): string[] {
  const out: string[] = [];
  list.forEach((w) => out.push(w.requestId));
  return out.sort();
}

describe('BodyWatchList', () => {
  it('holds what a Set would after random adds and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 })), { maxLength: 80 }), (ops) => {
        const list = new BodyWatchList();
        const byId = new Map<number, BodyWatch>();
        const model = new Set<number>();
        for (const [add, i] of ops) {
          if (add && !model.has(i)) {
            const w = watch(String(i));
            byId.set(i, w);
            list.add(w);
            model.add(i);
          } else if (!add) {
            const w = byId.get(i);
            if (w !== undefined) list.delete(w); // deleting twice is harmless
            model.delete(i);
          }
        }
        expect(members(list)).toEqual([...model].map(String).sort());
      }),
    );
  });

  it('lets the sweep delete the watch it is visiting, and others keep their turn', () => {
    const list = new BodyWatchList();
    const ws = ['a', 'b', 'c', 'd'].map(watch);
    for (const w of ws) list.add(w);
    const seen: string[] = [];
    list.forEach((w) => {
      seen.push(w.requestId);
      if (w.requestId !== 'c') list.delete(w);
    });
    expect(seen.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(members(list)).toEqual(['c']);
    const c = ws[2] as BodyWatch;
    list.delete(c);
    expect(members(list)).toEqual([]);
    expect(c.prev).toBeUndefined();
    expect(c.next).toBeUndefined();
  });
});
