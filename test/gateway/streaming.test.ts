// Streaming mechanics: chunks arrive at the client as the upstream sends them (no buffering), and a
// client that stops reading stops the upstream (backpressure), so memory stays bounded.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendYaml, routeYaml, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  gw = await startGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }], extra: '      timeouts:\n        request: 30s\n' }]),
  });
});

afterAll(async () => {
  await gw.close();
  await up.close();
});

function openStream(): Promise<net.Socket> {
  const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  return new Promise((resolve) => {
    const s = net.connect(gw.gateway.dataAddress.port, '127.0.0.1', () => {
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      resolve(s);
    });
  });
}

describe('streaming', () => {
  it('forwards each upstream chunk before the next one exists', async () => {
    // The upstream sends chunk n+1 only after the client has received chunk n through the gateway:
    // this can only finish if nothing on the way buffers.
    let release: (() => void) | undefined;
    up.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const send = (): void => {
        if (n === 5) {
          res.end('data: [DONE]\n\n');
          return;
        }
        res.write(`data: {"choices":[{"index":0,"delta":{"content":"c${n++}"},"finish_reason":null}]}\n\n`);
        release = send;
      };
      send();
    });
    const s = await openStream();
    let text = '';
    await new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('[DONE]')) return resolve();
        const r = release;
        release = undefined;
        r?.();
      });
      s.on('error', reject);
      setTimeout(() => reject(new Error(`stalled after: ${text.slice(-200)}`)), 5_000).unref();
    });
    s.destroy();
    for (let i = 0; i < 5; i++) expect(text).toContain(`"c${i}"`);
  });

  it('stops reading from the upstream while the client does not read', async () => {
    let written = 0;
    let finished = false;
    const chunk = `data: ${'x'.repeat(16 * 1024)}\n\n`;
    up.behave((_q, _rec, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pump = (): void => {
        while (written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        finished = true;
        res.end();
      };
      pump();
    });
    const s = await openStream();
    s.pause(); // a client that stopped reading
    await new Promise((r) => setTimeout(r, 1_000));
    // Socket buffers on three hops hold a few MB at most; 64 MB would mean the gateway buffered.
    expect(finished).toBe(false);
    expect(written).toBeLessThan(24 * 1024 * 1024);
    const before = written;
    s.resume();
    s.on('data', () => undefined);
    // Reading again lets the upstream write again, however long the three hops take to drain.
    while (written <= before) await new Promise((r) => setTimeout(r, 20));
    expect(written).toBeGreaterThan(before);
    s.destroy();
  });
});
