// Reading and checking a JSON request body: size limit (413, before reading when the length is
// declared), content type (415), UTF-8 (400) and JSON syntax (400 with the position).
import { isUtf8 } from 'node:buffer';
import { GatewayError } from '../core/errors.js';
import { closingQuote } from '../protocol/json-bytes.js';
import type { Upload } from '../providers/types.js';
import { headerString, type Req, type Res } from './http.js';

/** A request body as the pipeline reads it: the fields routing and accounting read, and its bytes. */
export interface RequestBody {
  readonly body: Record<string, unknown>;
  /** The bytes read (all of a JSON body; the read-ahead of an upload). */
  readonly raw: Buffer;
  /** The part of an upload still arriving from the client. */
  readonly upload?: Upload;
}

/** The JSON body every endpoint but uploads takes. */
export async function readJsonBody(req: Req, res: Res, limit: number, limits: JsonShapeLimits): Promise<RequestBody> {
  checkContentType(headerString(req.headers['content-type']));
  const raw = await readBody(req, res, limit);
  return { body: parseJsonObject(raw, limits), raw };
}

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

export function tooLarge(limit: number, declared?: number): GatewayError {
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
  // What nearly every client sends, accepted without taking the value apart.
  if (value === 'application/json') return;
  const base = value.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (base !== 'application/json' && !(base.startsWith('application/') && base.endsWith('+json'))) {
    throw new GatewayError('unsupported_media_type', `Unsupported content-type "${value.slice(0, 100)}": this endpoint takes JSON ("content-type: application/json").`);
  }
}

export interface JsonShapeLimits {
  readonly jsonMaxDepth: number;
  readonly jsonMaxValues: number;
}

export function parseJsonObject(raw: Buffer, limits: JsonShapeLimits): Record<string, unknown> {
  if (raw.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; send a JSON object.');
  if (!isUtf8(raw)) throw new GatewayError('invalid_utf8', 'The request body is not valid UTF-8; JSON must be encoded as UTF-8.');
  checkShape(raw, limits);
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

/**
 * One pass over the raw bytes, before JSON.parse, bounding what parsing and everything after it
 * (routing, the prompt estimate, translation) would do on the event loop: nesting depth (deep
 * nesting exhausts the stack of recursive walkers) and the number of values (each is an object the
 * parse allocates). Strings are skipped with a native search, so a large prompt costs little here.
 */
function checkShape(raw: Buffer, limits: JsonShapeLimits): void {
  const n = raw.length;
  let depth = 0;
  // Containers and commas: every member or element but the first of each container adds a comma.
  let values = 0;
  for (let i = 0; i < n; i++) {
    const c = raw[i] as number;
    if (c === 0x22) {
      i = closingQuote(raw, i + 1);
      if (i === -1) return; // unterminated: JSON.parse reports it with its position
    } else if (c === 0x7b || c === 0x5b) {
      values++;
      if (++depth > limits.jsonMaxDepth) {
        throw new GatewayError(
          'invalid_body',
          `The request body nests objects and arrays deeper than ${limits.jsonMaxDepth} levels; flatten it (the limit is TOLLGATE_LISTENER_JSON_MAX_DEPTH).`,
        );
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c) values++;
  }
  if (values > limits.jsonMaxValues) {
    throw new GatewayError(
      'body_too_large',
      `The request body holds more than ${limits.jsonMaxValues} JSON values (keys and array elements); send fewer (the limit is TOLLGATE_LISTENER_JSON_MAX_VALUES).`,
    );
  }
}
