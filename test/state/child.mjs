// A second process writing through the state store (the built one in dist/), so the tests can
// check what crosses process boundaries: notices, compare-and-set, durability after kill -9.
// Usage: node child.mjs '<json spec>'; prints one line per acknowledged write.
import { openStateStore } from '../../dist/state/index.js';

const spec = JSON.parse(process.argv[2]);
if (spec.action === 'open') {
  try {
    await (await openStateStore(spec.target)).close();
    process.stdout.write('{"ok":true}\n');
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: err.message, hint: err.hint })}\n`);
  }
  process.exit(0);
}
const store = await openStateStore(spec.target);
const say = (s) => process.stdout.write(`${s}\n`);

switch (spec.action) {
  case 'put': {
    say(JSON.stringify(await store.put(spec.kind, spec.id, spec.doc, spec.ifVersion)));
    break;
  }
  case 'increment': {
    // Read-modify-write with compare-and-set, retrying on conflict: the count must come out exact.
    for (let i = 0; i < spec.times; i++) {
      for (;;) {
        const cur = await store.get(spec.kind, spec.id);
        const r = await store.put(spec.kind, spec.id, { count: (cur?.doc?.count ?? 0) + 1 }, cur?.version ?? 0);
        if (r.ok) break;
      }
    }
    say('done');
    break;
  }
  case 'put-forever': {
    say('ready');
    for (let n = 1; ; n++) {
      const r = await store.put(spec.kind, `r${String(n).padStart(6, '0')}`, { n }, 0);
      if (!r.ok) throw new Error(`put r${n} conflicted`);
      say(`ack ${n}`);
    }
  }
  case 'spend-forever': {
    // Several calls in flight, so group commit is exercised; each acknowledged call printed.
    say('ready');
    let n = 0;
    const one = async () => {
      for (;;) {
        const i = ++n;
        await store.addSpend([{ subject: spec.subject, window: spec.window, micros: 1 }, { subject: `${spec.subject}/x2`, window: spec.window, micros: 2 }]);
        say(`ack ${i}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, one));
    break;
  }
  default:
    throw new Error(`unknown action ${spec.action}`);
}
await store.close();
