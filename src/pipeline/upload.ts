// Reading a multipart/form-data upload (audio transcription) without holding it whole. The gateway
// reads ahead only until the form's `model` field has arrived (routing needs it); the bytes read so
// far become the head of the upstream body and the rest streams from the client to the backend as
// it arrives, counted against the body limit on the way.
//
// Clients put `model` where they like: curl and the Python SDK send text fields before the file,
// openai-node sends fields in the order the caller wrote them (its own examples put `file` first).
// So the read-ahead is bounded (TOLLGATE_LISTENER_UPLOAD_LOOKAHEAD_BYTES): a form whose `model`
// comes after more than that many bytes is refused with a 400 saying to send `model` first.
import { Readable } from 'node:stream';
import { GatewayError } from '../core/errors.js';
import type { Upload } from '../providers/types.js';
import { MultipartError, MultipartScanner, multipartBoundary } from '../protocol/multipart.js';
import { discardBody, expectsContinue, tooLarge, type RequestBody } from './body.js';
import { headerString, type Req, type Res } from './http.js';

/** Text fields longer than this are not read into the field map (they still pass through). */
const MAX_FIELD_BYTES = 64 * 1024;

/**
 * The upload's head and the stream of its rest. `needModel`: read ahead to the `model` field (it
 * routes the request); without it (file uploads, routed by headers) nothing is read ahead.
 */
export function readUpload(req: Req, res: Res, limit: number, lookahead: number, needModel = true): Promise<RequestBody> {
  const contentType = headerString(req.headers['content-type']);
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined || contentType === undefined) {
    return Promise.reject(
      new GatewayError(
        'unsupported_media_type',
        `Unsupported content-type "${(contentType ?? '(none)').slice(0, 100)}": this endpoint takes a file upload as multipart/form-data with a boundary.`,
      ),
    );
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit, Number(declared)));
  if (expectsContinue(req) && !res.headersSent) res.writeContinue?.();
  if (!needModel) {
    const upload: Upload = { contentType, declaredLength: declared === undefined ? undefined : Number(declared), model: undefined, rest: new UploadRest(req, limit, 0), sent: false };
    discardOnFinish(req, res);
    return Promise.resolve({ body: {}, raw: Buffer.alloc(0), upload });
  }
  return new Promise((resolve, reject) => {
    const scanner = new MultipartScanner(boundary);
    let head = Buffer.allocUnsafe(Math.min(64 * 1024, lookahead));
    let size = 0;
    let settled = false;
    const fields: Record<string, unknown> = {};
    let model: { start: number; end: number } | undefined;
    const stop = (): void => {
      settled = true;
      req.removeAllListeners('data');
    };
    const fail = (err: GatewayError): void => {
      if (settled) return;
      stop();
      // The client is still sending: read the rest away so it sees the refusal.
      if (err.code !== 'body_too_large') discardBody(req);
      else req.pause();
      reject(err);
    };
    const done = (ended: boolean): void => {
      if (settled) return;
      stop();
      req.pause();
      const body = head.subarray(0, size);
      const upload: Upload = {
        contentType,
        declaredLength: declared === undefined ? undefined : Number(declared),
        model,
        rest: ended ? undefined : new UploadRest(req, limit, size),
        sent: false,
      };
      discardOnFinish(req, res);
      resolve({ body: fields, raw: body, upload });
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (size + chunk.length > limit) return fail(tooLarge(limit));
      if (size + chunk.length > head.length) {
        const grown = Buffer.allocUnsafe(Math.max(size + chunk.length, head.length * 2));
        head.copy(grown, 0, 0, size);
        head = grown;
      }
      chunk.copy(head, size);
      size += chunk.length;
      const view = head.subarray(0, size);
      try {
        for (const p of scanner.scan(view)) {
          if (p.filename !== undefined || p.valueEnd - p.valueStart > MAX_FIELD_BYTES) continue;
          fields[p.name] = fieldValue(p.name, view.toString('utf8', p.valueStart, p.valueEnd));
          if (p.name === 'model') model = { start: p.valueStart, end: p.valueEnd };
        }
      } catch (err) {
        const detail = err instanceof MultipartError ? err.message : 'unreadable form';
        return fail(new GatewayError('invalid_body', `The multipart form is malformed (${detail}).`));
      }
      if (model !== undefined || scanner.done) return done(false);
      if (size >= lookahead) {
        return fail(
          new GatewayError(
            'missing_model',
            `The form's "model" field did not arrive within its first ${lookahead} bytes (the file came before it). Put "model" before "file" in the form, or raise TOLLGATE_LISTENER_UPLOAD_LOOKAHEAD_BYTES.`,
            { param: 'model' },
          ),
        );
      }
    });
    req.on('end', () => {
      if (!scanner.done) return fail(new GatewayError('invalid_body', 'The multipart form ends before its closing boundary.'));
      done(true);
    });
    req.on('error', () => fail(new GatewayError('bad_request', 'The request body could not be read: the connection failed while sending it.')));
    req.on('aborted', () => fail(new GatewayError('bad_request', 'The client aborted the request while sending its body.')));
  });
}

/**
 * Whatever ends the request (a refusal before any backend was asked, a failed attempt), the client's
 * unsent bytes are read away so it can read the answer and the connection goes on.
 */
function discardOnFinish(req: Req, res: Res): void {
  res.once('finish', () => {
    if (req.complete !== true) discardBody(req);
  });
}

/** Form fields as the JSON body would carry them, so routing and the outcome read them alike. */
function fieldValue(name: string, text: string): unknown {
  if (name === 'stream') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}

/**
 * The rest of the client's upload, read on demand: the client is paused whenever the upstream is
 * not taking bytes, so the gateway holds one chunk per upload. Past the body limit the stream fails
 * with a 413 (the proxy answers it when no response started) and the client's remaining bytes are
 * read away so it can read that answer.
 */
export class UploadRest extends Readable {
  private size: number;

  constructor(
    private readonly req: Req,
    private readonly limit: number,
    already: number,
  ) {
    super();
    this.size = already;
    req.on('data', (chunk: Buffer) => {
      this.size += chunk.length;
      if (this.size > this.limit) {
        req.removeAllListeners('data');
        discardBody(req);
        this.destroy(tooLarge(this.limit));
        return;
      }
      if (!this.push(chunk)) req.pause();
    });
    req.on('end', () => this.push(null));
    req.on('aborted', () => this.destroy(new GatewayError('bad_request', 'The client aborted the request while sending its body.')));
  }

  override _read(): void {
    this.req.resume();
  }
}

/** The upstream body of an upload: the (rewritten) read-ahead, then the rest as the client sends it. */
export function uploadBody(head: Buffer, upload: Upload | undefined): Buffer | Readable {
  const rest = upload?.rest;
  if (upload === undefined || rest === undefined) return head;
  upload.sent = true;
  return Readable.from(joined(head, rest), { objectMode: false });
}

async function* joined(head: Buffer, rest: Readable): AsyncGenerator<Buffer> {
  yield head;
  for await (const chunk of rest) yield chunk as Buffer;
}
