// The key API on the admin listener (documented in openapi/keys.yaml): keys, teams and
// organisations. Every call needs the admin token (`Authorization: Bearer <token>`), compared in
// constant time; with no token configured the API is refused, saying how to configure one.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkInput, createKeyInput, ownerId, ownerInput, rotateKeyInput, updateKeyInput } from '../config/schema/keys.js';
import type { StateStore } from '../state/store.js';
import { AdminError, type KeyAdmin, type OwnerKind } from './admin.js';
import { type Budget, budgetSubject, ORG_KIND, TEAM_KIND } from './model.js';
import { KEYS_PAGE } from './page.js';
import { fromMicros, windowOf } from './periods.js';

const MAX_BODY = 64 * 1024;
const KEY_ID_RE = /^[a-z2-9]{12}$/;

export class KeyApi {
  private readonly token: Buffer | undefined;

  constructor(
    private readonly admin: KeyAdmin,
    private readonly state: StateStore,
    token: string | undefined,
    private readonly currency: string,
  ) {
    this.token = token === undefined ? undefined : digest(token);
  }

  /** Answers `/admin/…` requests; false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path !== '/admin' && !path.startsWith('/admin/')) return false;
    if (path === '/admin/ui' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(KEYS_PAGE), 'cache-control': 'no-store' });
      res.end(KEYS_PAGE);
      return true;
    }
    try {
      this.authorize(req);
      const { status, body } = await this.route(req, path.split('/').filter((p) => p !== '').slice(1));
      send(res, status, body);
    } catch (err) {
      if (err instanceof ApiError) send(res, err.status, { error: { message: err.message, code: err.code, ...(err.problems === undefined ? {} : { problems: err.problems }) } });
      else if (err instanceof AdminError) send(res, err.status, { error: { message: err.message, code: err.status === 404 ? 'not_found' : err.status === 409 ? 'conflict' : 'invalid_request' } });
      else throw err;
    }
    return true;
  }

  private authorize(req: IncomingMessage): void {
    if (this.token === undefined) {
      throw new ApiError(403, 'admin_token_not_configured', 'The key API is disabled: no admin token is configured. Start `tollgate serve` with --admin-token-file FILE (or the TOLLGATE_ADMIN_TOKEN environment variable) and send it as "Authorization: Bearer <token>".');
    }
    const h = req.headers['authorization'];
    const presented = typeof h === 'string' && h.slice(0, 7).toLowerCase() === 'bearer ' ? h.slice(7).trim() : undefined;
    if (presented === undefined) throw new ApiError(401, 'unauthenticated', 'The key API needs the admin token as "Authorization: Bearer <token>".');
    if (!timingSafeEqual(digest(presented), this.token)) throw new ApiError(401, 'unauthenticated', 'The admin token is not valid.');
  }

  private async route(req: IncomingMessage, parts: string[]): Promise<{ status: number; body: unknown }> {
    const method = req.method ?? 'GET';
    const [collection, id, action] = parts;
    if (collection === 'keys') {
      if (id === undefined) {
        if (method === 'GET') {
          const keys = await this.admin.listKeys();
          return { status: 200, body: { keys: new URL(req.url ?? '/', 'http://x').searchParams.get('spend') === 'true' ? await Promise.all(keys.map((k) => this.withSpend(k))) : keys } };
        }
        if (method === 'POST') {
          const created = await this.admin.createKey(valid(createKeyInput, await readJson(req)));
          return { status: 201, body: { ...created.record, key: created.key } };
        }
        throw notAllowed(method, 'GET, POST');
      }
      if (!KEY_ID_RE.test(id)) throw new ApiError(404, 'not_found', `no key with id "${id.slice(0, 100)}" (key ids are 12 characters of a-z and 2-9)`);
      if (action === undefined) {
        if (method === 'GET') return { status: 200, body: await this.withSpend(await this.admin.getKey(id)) };
        if (method === 'PATCH') return { status: 200, body: await this.admin.updateKey(id, valid(updateKeyInput, await readJson(req))) };
        throw notAllowed(method, 'GET, PATCH');
      }
      if (method !== 'POST') throw notAllowed(method, 'POST');
      if (action === 'rotate') {
        const r = await this.admin.rotateKey(id, valid(rotateKeyInput, await readJson(req, true)));
        return { status: 200, body: { ...r.record, key: r.key } };
      }
      if (action === 'revoke') return { status: 200, body: await this.admin.revokeKey(id) };
      throw new ApiError(404, 'not_found', `no action "${action.slice(0, 50)}" on a key; use rotate or revoke`);
    }
    if (collection === 'teams' || collection === 'orgs') {
      const kind: OwnerKind = collection === 'teams' ? TEAM_KIND : ORG_KIND;
      if (id === undefined) {
        if (method === 'GET') return { status: 200, body: { [collection]: await this.admin.listOwners(kind) } };
        throw notAllowed(method, 'GET');
      }
      const checked = checkInput(ownerId, id);
      if (!checked.ok) throw new ApiError(400, 'invalid_request', `the ${kind} id in the path is not valid`, checked.problems);
      if (action !== undefined) throw new ApiError(404, 'not_found', `no admin endpoint at /admin/${parts.join('/')}`);
      if (method === 'GET') return { status: 200, body: await this.withOwnerSpend(kind, await this.admin.getOwner(kind, id)) };
      if (method === 'PUT') return { status: 200, body: await this.admin.putOwner(kind, id, valid(ownerInput, await readJson(req))) };
      throw notAllowed(method, 'GET, PUT');
    }
    throw new ApiError(404, 'not_found', `no admin endpoint at /admin/${parts.join('/').slice(0, 100)}; the key API serves /admin/keys, /admin/teams and /admin/orgs`);
  }

  /** The key with its spend this period per budget, from the durable journal. */
  private async withSpend(rec: Record<string, unknown>): Promise<Record<string, unknown>> {
    const budgets = await this.spendOf(`key:${String(rec['id'])}`, rec['budgets']);
    const over = budgets.some((b) => b.remaining <= 0);
    return { ...rec, budgets, currency: this.currency, ...(rec['state'] === 'active' && over ? { state: 'over_budget' } : {}) };
  }

  private async withOwnerSpend(kind: OwnerKind, rec: Record<string, unknown>): Promise<Record<string, unknown>> {
    return { ...rec, budgets: await this.spendOf(`${kind}:${String(rec['id'])}`, rec['budgets']), currency: this.currency };
  }

  private async spendOf(owner: string, budgets: unknown): Promise<Array<Record<string, unknown> & { remaining: number }>> {
    const now = Date.now();
    const list = Array.isArray(budgets) ? (budgets as Budget[]) : [];
    return Promise.all(
      list.map(async (b) => {
        const w = windowOf(b, now);
        const spent = fromMicros(await this.state.spend(budgetSubject(owner, b), w.id));
        return { ...b, window: w.id, spent, remaining: Math.max(0, b.amount - spent), resetsAt: new Date(w.end).toISOString() };
      }),
    );
  }
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: string[],
  ) {
    super(message);
  }
}

function valid<T>(schema: Parameters<typeof checkInput>[0], body: unknown): T {
  const r = checkInput(schema, body);
  if (!r.ok) throw new ApiError(400, 'invalid_request', `the request body is not valid: ${r.problems.join('; ')}`, r.problems);
  return r.value as T;
}

function notAllowed(method: string, allow: string): ApiError {
  return new ApiError(405, 'method_not_allowed', `${method} is not allowed here; use ${allow}`);
}

async function readJson(req: IncomingMessage, emptyOk = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiError(413, 'body_too_large', `the request body is larger than ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    if (emptyOk) return {};
    throw new ApiError(400, 'invalid_request', 'the request needs a JSON object body');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(400, 'invalid_json', `the request body is not JSON: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
