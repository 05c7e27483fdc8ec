// The chaos soak's client side: the mix of simulator faults drawn per request, one request through
// the gateway, and the classification of how it ended as a client sees it (a complete answer, an
// OpenAI-shaped error, an SSE error event, a cut connection, a timeout, or something unclear). It is
// separate from chaos.ts because this is the definition of "every client gets a clear end", the
// check the soak exists for; chaos.ts only drives the clients and reports.
import http from 'node:http';

/** The API key every chaos client sends; the gateway's config admits it. */
export const CLIENT_KEY = 'chaos-client-key-5b0c61d2e8f94a7b';
const CLIENT_TIMEOUT_MS = 30_000;
/** Faults drawn per request (weights); about half the traffic is clean. */
export const FAULTS: ReadonlyArray<readonly [string, number]> = [
  ['', 12],
  ['status=503', 1],
  ['status=500', 1],
  ['status=429', 1],
  ['reset-after=3', 2],
  ['reset-after=0', 1],
  ['stall-after=2:2500', 1],
  ['slow-first-byte=1200', 1],
  ['malformed-after=2', 2],
  ['truncate-after=3', 2],
  ['hang', 1],
  ['delay=150', 1],
];

export type Ending = 'complete' | 'error_response' | 'stream_error_event' | 'cut' | 'client_timeout' | 'unclear';

export interface Outcome {
  readonly ending: Ending;
  /** The start of the body, kept for endings worth looking at. */
  readonly text: string;
}

/** One chat completion through the gateway with `fault` injected upstream, and how it ended for the client. */
export function oneRequest(agent: http.Agent, port: number, fault: string, stream: boolean): Promise<Outcome> {
  const body = JSON.stringify({ model: 'sim-model', stream, max_tokens: 12, messages: [{ role: 'user', content: 'chaos' }] });
  return new Promise((resolve) => {
    let settled = false;
    let text = '';
    const done = (e: Ending): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ending: e, text: text.slice(-400) });
    };
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${CLIENT_KEY}` };
    if (fault !== '') headers['x-sim-fault'] = fault;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', agent, headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('aborted', () => done('cut'));
      res.on('error', () => done('cut'));
      res.on('end', () => {
        if (!res.complete) return done('cut');
        const status = res.statusCode ?? 0;
        if (status >= 400) return done(isOpenAIError(text) ? 'error_response' : 'unclear');
        if (stream) {
          if (text.includes('data: [DONE]')) return done(text.includes('"error"') ? 'stream_error_event' : 'complete');
          return done(/data: \{"error"/.test(text) ? 'stream_error_event' : 'unclear');
        }
        try {
          JSON.parse(text);
          done('complete');
        } catch {
          done('unclear');
        }
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      done('client_timeout');
    }, CLIENT_TIMEOUT_MS);
    req.on('error', () => done('cut'));
    req.end(body);
  });
}

function isOpenAIError(text: string): boolean {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown; type?: unknown } };
    return typeof j.error?.message === 'string' && typeof j.error.type === 'string';
  } catch {
    return false;
  }
}
