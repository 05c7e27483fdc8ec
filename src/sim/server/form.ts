// A multipart/form-data request body as the simulator's upload endpoints read it: the `file` part and
// the text fields (repeated fields, such as `timestamp_granularities[]`, keep every value).
import type { IncomingMessage } from 'node:http';
import { multipartBoundary, MultipartError, parseMultipart } from '../../protocol/multipart.js';
import { badRequest } from './errors.js';

export interface Form {
  readonly file: Buffer;
  readonly filename: string | undefined;
  readonly fields: ReadonlyMap<string, string[]>;
}

export function readForm(req: IncomingMessage, body: Buffer): Form {
  const boundary = multipartBoundary(req.headers['content-type']);
  if (boundary === undefined) throw badRequest('This endpoint takes multipart/form-data (the audio file and its parameters); the content-type was not that.');
  let parts;
  try {
    parts = parseMultipart(body, boundary);
  } catch (err) {
    throw badRequest(`The multipart form could not be read: ${err instanceof MultipartError ? err.message : 'malformed'}.`);
  }
  let file: Buffer | undefined;
  let filename: string | undefined;
  const fields = new Map<string, string[]>();
  for (const p of parts) {
    if (p.name === 'file') {
      file = p.value;
      filename = p.filename;
    }
    else fields.set(p.name, [...(fields.get(p.name) ?? []), p.value.toString('utf8')]);
  }
  if (file === undefined) throw badRequest('file: Field required (the audio file, as a multipart file part named "file").', 'file');
  return { file, filename, fields };
}
