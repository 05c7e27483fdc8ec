// Reading and checking a JSON request body: size limit (413, before reading when the length is
// declared), content type (415), UTF-8 (400) and JSON syntax (400 with the position).
import { isUtf8 } from 'node:buffer';
import { GatewayError } from '../core/errors.js';
import type { Req, Res } from './http.js';

/** How long a refused HTTP/1.1 body is still read (and dropped) so its sender can read the refusal. */
export const LINGER_MS = 5_000;

export function readBody(req: Req, res: Res, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit, Number(declared)));
  }
  // The listener leaves `Expect: 100-continue` to the pipeline: the invitation goes out only now,
  // after authentication and the size check, so a refused client never starts uploading.
  if (expectsContinue(req) && !res.headersSent) res.writeContinue?.();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: GatewayError): void => {
      if (done) return;
      done = true;
      req.removeAllListeners('data');
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        req.pause();
        fail(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', () => fail(new GatewayError('bad_request', 'The request body could not be read: the connection failed while sending it.')));
    req.on('aborted', () => fail(new GatewayError('bad_request', 'The client aborted the request while sending its body.')));
  });
}

export function expectsContinue(req: Req): boolean {
  const e = req.headers['expect'];
  return typeof e === 'string' && e.toLowerCase() === '100-continue';
}

/**
 * The rest of a refused HTTP/1.1 body is read and dropped, so a client that sends its whole body
 * before reading (most do) finishes and reads the refusal: closing with unread bytes makes the
 * kernel reset the connection, and the reset takes the answer with it. A body still arriving after
 * LINGER_MS is cut.
 */
export function discardBody(req: Req): void {
  if (req.complete === true) return;
  req.removeAllListeners('data');
  req.on('data', () => undefined);
  const t = setTimeout(() => req.destroy(), LINGER_MS);
  req.on('end', () => clearTimeout(t));
  req.on('close', () => clearTimeout(t));
  req.resume();
}

function tooLarge(limit: number, declared?: number): GatewayError {
  const what = declared === undefined ? 'The request body is' : `The request body (${declared} bytes) is`;
  return new GatewayError(
    'body_too_large',
    `${what} larger than the gateway's limit of ${limit} bytes. Send a smaller request, or raise the limit with a ClientTrafficPolicy connection.bufferLimit.`,
  );
}

export function checkContentType(value: string | undefined): void {
  if (value === undefined) {
    throw new GatewayError('unsupported_media_type', 'Missing content-type header: send the body as JSON with "content-type: application/json".');
  }
  const base = value.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (base !== 'application/json' && !(base.startsWith('application/') && base.endsWith('+json'))) {
    throw new GatewayError('unsupported_media_type', `Unsupported content-type "${value.slice(0, 100)}": this endpoint takes JSON ("content-type: application/json").`);
  }
}

export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; send a JSON object.');
  if (!isUtf8(raw)) throw new GatewayError('invalid_utf8', 'The request body is not valid UTF-8; JSON must be encoded as UTF-8.');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    const detail = err instanceof SyntaxError ? err.message.slice(0, 200) : 'syntax error';
    throw new GatewayError('invalid_json', `The request body is not valid JSON (${detail}).`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('invalid_body', 'The request body must be a JSON object, e.g. {"model": "…", "messages": […]}.');
  }
  return value as Record<string, unknown>;
}
