// The gateway's side of Responses API conversation state: who a caller is, loading the turns a
// `previous_response_id` continues, keeping a finished response, and the endpoints that read it back
// (GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items).
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../../core/errors.js';
import { isRecord, type Json } from '../../providers/shared/json.js';
import type { ClientRequest } from '../../providers/types.js';
import { finishedResponse } from './shape.js';
import { MAX_CHAIN, type ResponseStore, type StoredResponse } from './store.js';
import { inputItems } from './to-chat.js';

// Every header a client credential arrives in, as the auth stage reads them.
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'] as const;

/** What a request's caller is known by when the gateway keeps state for it. */
export interface CallerView {
  /** The request's headers as they arrived, before authentication rewrote them. */
  readonly headers: IncomingHttpHeaders;
  /** The workload of the virtual key that authenticated the request, if one did. */
  readonly keyWorkload: string | undefined;
}

/**
 * The caller a stored response belongs to. A request authenticated by a virtual key belongs to the
 * key's workload: every key of that workload (a rotated secret, a second key) reads what another
 * stored, and no other workload does. Otherwise it is the credential and the workload header
 * exactly as the client sent them (hashed; never stored in clear), taken before authentication
 * rewrites headers, so the request that stores a response and the one that reads it agree.
 */
export function callerScope(caller: CallerView): string {
  const h = createHash('sha256');
  if (caller.keyWorkload !== undefined) return h.update('virtual-key-workload\0').update(caller.keyWorkload).digest('base64url');
  for (const name of [...CREDENTIAL_HEADERS, 'x-workload-app']) {
    const v = caller.headers[name];
    h.update(name).update('\0').update(Array.isArray(v) ? v.join('\0') : (v ?? '')).update('\0');
  }
  return h.digest('base64url');
}

function notFound(id: string): GatewayError {
  return new GatewayError(
    'response_not_found',
    `No response with id ${JSON.stringify(id.slice(0, 100))}. Stored responses are kept 24 hours and only the caller that created them (the same virtual key workload, or the same credential and x-workload-app) can read or continue them.`,
    { param: 'previous_response_id' },
  );
}

async function owned(store: ResponseStore, scope: string, id: string): Promise<StoredResponse> {
  const r = await store.get(id);
  if (r === undefined || r.scope !== scope) throw notFound(id);
  return r;
}

// Earlier turns' items for a request body, handed from the handler to the pivot translator.
const histories = new WeakMap<object, readonly Json[]>();

export function historyOf(body: Readonly<Json>): readonly Json[] {
  return histories.get(body) ?? [];
}

/**
 * Checks `previous_response_id` belongs to this caller and loads the conversation up to it: each
 * turn's input items and output items, oldest first. Turns older than the store keeps are gone; the
 * conversation then starts at the oldest one left.
 */
export async function loadConversation(store: ResponseStore, scope: string, body: Readonly<Json>): Promise<void> {
  const prev = body['previous_response_id'];
  if (prev === undefined || prev === null) return;
  if (typeof prev !== 'string' || prev === '') throw new GatewayError('invalid_body', '"previous_response_id" must be a response id string.', { param: 'previous_response_id' });
  const turns: StoredResponse[] = [await owned(store, scope, prev)];
  for (let id = turns[0]?.previousId; id !== undefined; ) {
    if (turns.length >= MAX_CHAIN) {
      throw new GatewayError('invalid_body', `The conversation behind "previous_response_id" is longer than ${MAX_CHAIN} turns; start a new one with the history as input.`, { param: 'previous_response_id' });
    }
    const r = await store.get(id);
    if (r === undefined || r.scope !== scope) break;
    turns.unshift(r);
    id = r.previousId;
  }
  const items: Json[] = [];
  for (const t of turns) {
    items.push(...t.input);
    for (const o of Array.isArray(t.response['output']) ? (t.response['output'] as unknown[]) : []) if (isRecord(o)) items.push(o);
  }
  histories.set(body, items);
}

/** Keeps the finished response of a request, unless the client asked not to (`store: false`). */
export async function keepResponse(store: ResponseStore, scope: string, client: ClientRequest): Promise<void> {
  const response = finishedResponse(client);
  if (response === undefined || client.body['store'] === false || typeof response['id'] !== 'string') return;
  const prev = client.body['previous_response_id'];
  await store.put(response['id'], { scope, previousId: typeof prev === 'string' ? prev : undefined, input: inputItems(client.body), response });
}

export interface LocalAnswer {
  readonly status: number;
  readonly body: Json;
}

/** GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items, POST /v1/responses/{id}/cancel. */
export async function serveStored(
  store: ResponseStore,
  scope: string,
  method: string,
  id: string,
  part: 'response' | 'input_items' | 'cancel',
  query: URLSearchParams,
): Promise<LocalAnswer> {
  if (method === 'DELETE' && part === 'response') {
    await owned(store, scope, id);
    await store.delete(id);
    return { status: 200, body: { id, object: 'response', deleted: true } };
  }
  const r = await owned(store, scope, id);
  if (part === 'cancel') {
    // Only a background response can be cancelled, and the gateway answers every response while the
    // client waits: by the time a client holds its id, it has finished.
    throw new GatewayError('invalid_body', `Response ${JSON.stringify(id.slice(0, 100))} cannot be cancelled: only background responses can, and this gateway runs every response in the foreground (it has already finished).`);
  }
  if (part === 'response') return { status: 200, body: r.response };
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new GatewayError('invalid_body', '"order" must be asc or desc.', { param: 'order' });
  const limit = Number(query.get('limit') ?? '20');
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GatewayError('invalid_body', '"limit" must be a whole number from 1 to 100.', { param: 'limit' });
  let list = order === 'desc' ? [...r.input].reverse() : [...r.input];
  const after = query.get('after');
  if (after !== null) list = list.slice(list.findIndex((i) => i['id'] === after) + 1);
  const data = list.slice(0, limit);
  return {
    status: 200,
    body: { object: 'list', data, first_id: data[0]?.['id'] ?? null, last_id: data[data.length - 1]?.['id'] ?? null, has_more: list.length > data.length },
  };
}
