// Session stickiness for an endpoint picker: which replica each session was last sent to, so the
// session's next request can go back there while that replica is a healthy, unsaturated candidate.
// The key comes from the pool's session header or its CEL expression over the request.
import type { InferencePoolConfig } from '../../config/types.js';
import { LazyRequestView, type PickRequest } from './request-view.js';

/** Sessions remembered per pool; past it the least recently placed is forgotten. */
const MAX_SESSIONS = 100_000;

/** The request's session key, from the pool's header or its CEL expression; undefined: none. */
export function sessionOf(cfg: InferencePoolConfig, req: PickRequest, body: Buffer): string | undefined {
  if (cfg.sessionKeyCel !== undefined) return cfg.sessionKeyCel.evaluate(new LazyRequestView(req, body));
  if (cfg.sessionHeader === undefined) return undefined;
  const v = req.headers[cfg.sessionHeader];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Session → the replica it was last placed on, in placement order (a Map keeps insertion order). */
export class SessionPlacements<R extends { readonly id: string }> {
  private readonly placed = new Map<string, R>();

  get(session: string): R | undefined {
    return this.placed.get(session);
  }

  /** Places the session on `r`; false when it was there already (nothing new to tell other workers). */
  place(session: string, r: R): boolean {
    const s = this.placed;
    if (s.get(session) === r) return false;
    s.delete(session);
    s.set(session, r);
    if (s.size > MAX_SESSIONS) {
      const oldest = s.keys().next();
      if (oldest.done !== true) s.delete(oldest.value);
    }
    return true;
  }

  /** Forgets the sessions placed on replicas that left the pool. */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const [k, r] of this.placed) if (!ids.has(r.id)) this.placed.delete(k);
  }
}
