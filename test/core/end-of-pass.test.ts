// EndOfPass: the responses that end in one pass over the ready I/O end together, after that pass
// read everything that was ready; a callback that throws is reported and the others still run.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EndOfPass } from '../../src/core/end-of-pass.js';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A listener and `n` connected clients, with the server's side of each. */
async function connected(n: number): Promise<{ clients: net.Socket[]; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    accepted.push(s);
    sockets.push(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const clients = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Socket>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => resolve(c));
      sockets.push(c);
    })),
  );
  while (accepted.length < n) await new Promise((r) => setImmediate(r));
  return { clients, accepted };
}

describe('EndOfPass', () => {
  it('runs what the reads of one pass added after all of them, in the order added', async () => {
    const { clients, accepted } = await connected(3);
    const order: string[] = [];
    const pass = new EndOfPass((err) => order.push(`error ${err.message}`));
    const done = new Promise<void>((resolve) => {
      accepted.forEach((s, i) =>
        s.on('data', () => {
          order.push(`read ${i}`);
          pass.add(() => {
            order.push(`end ${i}`);
            if (order.filter((o) => o.startsWith('end')).length === 3) resolve();
          });
        }),
      );
    });
    for (const c of clients) c.write('x');
    // Hold the loop while all three writes reach the server's sockets, so the next poll finds them ready together.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    await done;
    const reads = order.filter((o) => o.startsWith('read'));
    expect(order).toEqual([...reads, ...reads.map((r) => r.replace('read', 'end'))]);
    expect(reads).toHaveLength(3);
  });

  it('reports a callback that throws and still runs the others', async () => {
    const errors: string[] = [];
    const pass = new EndOfPass((err) => errors.push(err.message));
    const ran: number[] = [];
    pass.add(() => ran.push(1));
    pass.add(() => {
      throw new Error('boom');
    });
    await new Promise<void>((resolve) => pass.add(() => resolve()));
    expect(ran).toEqual([1]);
    expect(errors).toEqual(['boom']);
    // A callback added while the pass's callbacks run waits for the next pass.
    const later: string[] = [];
    await new Promise<void>((resolve) =>
      pass.add(() => {
        pass.add(() => {
          later.push('next');
          resolve();
        });
        later.push('first');
      }),
    );
    expect(later).toEqual(['first', 'next']);
  });
});
