// Backend answers to file and batch requests. File content streams through untouched. JSON answers
// (objects and lists, all small) are held: the ids they make the caller's are read for the ownership
// record (a created file or batch, and the output and error files of the caller's batches, which
// the backend wrote), and a list keeps only the caller's own objects.
import { isRecord, parseJson, type Json } from '../../providers/shared/json.js';
import type { ObjectKind } from './store.js';
import { UpstreamBodyError, type ClientRequest, type ResponseResult, type ResponseTranslator } from '../../providers/types.js';

const NONE: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };
/** A list or object answer larger than this is not a files answer: refused rather than held. */
const MAX_HELD_BYTES = 8 * 1024 * 1024;

const lists = new WeakMap<object, ReadonlySet<string>>();
const created = new WeakMap<ClientRequest, Array<{ kind: ObjectKind; id: string }>>();

export function setOwnedForList(body: object, ids: ReadonlySet<string>): void {
  lists.set(body, ids);
}

export function ownedForList(body: object): ReadonlySet<string> | undefined {
  return lists.get(body);
}

/** The objects a successful answer made the caller's: what it created, and its batches' output files. */
export function madeOwned(req: ClientRequest): ReadonlyArray<{ kind: ObjectKind; id: string }> {
  return created.get(req) ?? [];
}

export class FilesAnswer implements ResponseTranslator {
  readonly buffered: boolean;
  readonly rewritesBody: boolean;
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly req: ClientRequest,
    contentType: string | undefined,
    private readonly owned: ReadonlySet<string> | undefined,
  ) {
    this.buffered = contentType?.startsWith('application/json') === true;
    this.rewritesBody = this.buffered && owned !== undefined;
  }

  push(chunk: Buffer): Buffer | null {
    if (!this.buffered) return chunk;
    this.bytes += chunk.length;
    if (this.bytes > MAX_HELD_BYTES) throw new UpstreamBodyError(`the answer is larger than ${MAX_HELD_BYTES >> 20} MiB`);
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer | null {
    if (!this.buffered) return null;
    const raw = Buffer.concat(this.chunks);
    this.chunks = [];
    const body = parseJson(raw);
    if (!isRecord(body)) throw new UpstreamBodyError('the answer is not a JSON object');
    const isCreate = this.req.method === 'POST' && !this.req.subpath.endsWith('/cancel');
    if (this.owned === undefined) {
      const made = batchOutputs(body);
      if (isCreate && typeof body['id'] === 'string') made.push({ kind: body['object'] === 'batch' ? 'batch' : 'file', id: body['id'] });
      created.set(this.req, made);
      return raw;
    }
    const page = ownOnly(body, this.owned);
    created.set(this.req, (page['data'] as unknown[]).flatMap(batchOutputs));
    return Buffer.from(JSON.stringify(page));
  }

  result(): ResponseResult {
    return NONE;
  }
}

function batchOutputs(o: unknown): Array<{ kind: ObjectKind; id: string }> {
  if (!isRecord(o) || o['object'] !== 'batch') return [];
  const out: Array<{ kind: ObjectKind; id: string }> = [];
  for (const f of ['output_file_id', 'error_file_id']) {
    const id = o[f];
    if (typeof id === 'string' && id !== '') out.push({ kind: 'file', id });
  }
  return out;
}

/** A list page with only the caller's objects; first and last id follow what remains. */
function ownOnly(page: Json, owned: ReadonlySet<string>): Json {
  const all: unknown[] = Array.isArray(page['data']) ? page['data'] : [];
  const data = all.filter((o): o is Json => isRecord(o) && typeof o['id'] === 'string' && owned.has(o['id']));
  const out: Json = { ...page, data };
  if ('first_id' in page) out['first_id'] = data[0]?.['id'] ?? null;
  if ('last_id' in page) out['last_id'] = data.at(-1)?.['id'] ?? null;
  return out;
}
