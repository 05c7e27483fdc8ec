// The keys, teams and organisations a process serves, held in memory. The request path looks a key
// up by its id (one map read) and checks its secret; it never waits on the store. The registry
// follows the store's change feed (every worker and replica gets each change within a second) and
// re-reads everything now and then, so a change notice lost in transit is repaired too.
import type { Logger } from '../core/log.js';
import type { StateStore, StoredDoc } from '../state/store.js';
import { asKeyDoc, asOwnerDoc, type Budget, budgetSubject, KEY_KIND, type KeyDoc, ORG_KIND, type OwnerDoc, TEAM_KIND } from './model.js';
import { dummyCheck, parseKey, secretMatches } from './secret.js';

const RESYNC_MS = 30_000;

export interface LiveKey {
  readonly id: string;
  readonly doc: KeyDoc;
  /** undefined: every model. */
  readonly models: ReadonlySet<string> | undefined;
}

export type Lookup =
  | { readonly ok: true; readonly key: LiveKey }
  | { readonly ok: false; readonly reason: 'malformed' | 'invalid' | 'revoked' | 'expired'; readonly message: string };

/** A budget with the subject that spends against it (`key:<id>`, `team:<id>`, `org:<id>`). */
export interface BudgetOf {
  readonly subject: string;
  /** What the client is told: `key "ci-agent"`, `team "search"`. */
  readonly label: string;
  readonly budget: Budget;
}

export class KeyRegistry {
  private keys = new Map<string, LiveKey>();
  private teams = new Map<string, OwnerDoc>();
  private orgs = new Map<string, OwnerDoc>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private listeners: Array<() => void> = [];

  private constructor(
    private readonly store: StateStore,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  static async open(store: StateStore, logger: Logger, now: () => number = Date.now): Promise<KeyRegistry> {
    const r = new KeyRegistry(store, logger, now);
    // Subscribed before the first read: a change made while reading is applied after it.
    r.unsubscribe = store.subscribe(
      (c) => void r.refresh(c.kind, c.id),
      () => void r.resync().catch((err: unknown) => logger.warn('re-reading keys from the state store failed', { err })),
    );
    await r.resync();
    r.timer = setInterval(() => void r.resync().catch((err: unknown) => logger.warn('re-reading keys from the state store failed', { err })), RESYNC_MS);
    r.timer.unref();
    return r;
  }

  /** Called after any key, team or organisation changed here (gauges, dashboards). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  lookup(presented: string): Lookup {
    const parsed = parseKey(presented);
    if (parsed === undefined) return { ok: false, reason: 'malformed', message: 'The API key is not a well-formed Tollgate key ("tg-<id>.<secret>", as shown when it was created).' };
    const key = this.keys.get(parsed.id);
    const now = this.now();
    let match = false;
    if (key === undefined) dummyCheck(parsed.secret);
    else for (const s of key.doc.secrets) if ((s.notAfter === undefined || Date.parse(s.notAfter) > now) && secretMatches(s, parsed.secret)) match = true;
    // Unknown id and wrong secret read the same: a guess learns nothing about which part was right.
    if (key === undefined || !match) return { ok: false, reason: 'invalid', message: 'The API key is not valid (unknown key, or a secret that was rotated out).' };
    if (key.doc.state === 'revoked') return { ok: false, reason: 'revoked', message: `The API key "${key.id}" was revoked${key.doc.revokedAt === undefined ? '' : ` at ${key.doc.revokedAt}`}; ask its owner for a new one.` };
    if (key.doc.expiresAt !== undefined && Date.parse(key.doc.expiresAt) <= now) return { ok: false, reason: 'expired', message: `The API key "${key.id}" expired at ${key.doc.expiresAt}; ask its owner for a new one.` };
    return { ok: true, key };
  }

  /** Every budget a request with this key spends against: the key's, its team's, its organisation's. */
  budgetsOf(key: LiveKey): BudgetOf[] {
    const out: BudgetOf[] = key.doc.budgets.map((budget) => of(`key:${key.id}`, `key "${key.doc.name}" (${key.id})`, budget));
    const teamId = key.doc.team;
    const team = teamId === undefined ? undefined : this.teams.get(teamId);
    if (teamId !== undefined && team !== undefined) {
      for (const budget of team.budgets) out.push(of(`team:${teamId}`, `team "${teamId}"`, budget));
      const orgId = team.org;
      const org = orgId === undefined ? undefined : this.orgs.get(orgId);
      if (orgId !== undefined && org !== undefined) for (const budget of org.budgets) out.push(of(`org:${orgId}`, `organisation "${orgId}"`, budget));
    }
    return out;
  }

  /** Every budget of every key, team and organisation (to rebuild live counters, for gauges). */
  allBudgets(): BudgetOf[] {
    const out: BudgetOf[] = [];
    for (const k of this.keys.values()) for (const budget of k.doc.budgets) out.push(of(`key:${k.id}`, k.id, budget));
    for (const [id, t] of this.teams) for (const budget of t.budgets) out.push(of(`team:${id}`, id, budget));
    for (const [id, o] of this.orgs) for (const budget of o.budgets) out.push(of(`org:${id}`, id, budget));
    return out;
  }

  get size(): number {
    return this.keys.size;
  }

  close(): void {
    this.unsubscribe?.();
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async resync(): Promise<void> {
    const [keys, teams, orgs] = await Promise.all([this.store.list(KEY_KIND), this.store.list(TEAM_KIND), this.store.list(ORG_KIND)]);
    const k = new Map<string, LiveKey>();
    for (const s of keys) {
      const doc = asKeyDoc(s.doc);
      if (doc !== undefined) k.set(s.id, live(s.id, doc));
    }
    this.keys = k;
    this.teams = owners(teams);
    this.orgs = owners(orgs);
    this.changed();
  }

  private async refresh(kind: string, id: string): Promise<void> {
    if (kind !== KEY_KIND && kind !== TEAM_KIND && kind !== ORG_KIND) return;
    let s: StoredDoc | undefined;
    try {
      s = await this.store.get(kind, id);
    } catch (err) {
      this.logger.warn('reading a changed key from the state store failed; the next re-read applies it', { kind, id, err });
      return;
    }
    if (kind === KEY_KIND) {
      const doc = s === undefined ? undefined : asKeyDoc(s.doc);
      if (doc === undefined) this.keys.delete(id);
      else this.keys.set(id, live(id, doc));
    } else {
      const map = kind === TEAM_KIND ? this.teams : this.orgs;
      const doc = s === undefined ? undefined : asOwnerDoc(s.doc);
      if (doc === undefined) map.delete(id);
      else map.set(id, doc);
    }
    this.changed();
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}

function of(owner: string, label: string, budget: Budget): BudgetOf {
  return { subject: budgetSubject(owner, budget), label: budget.backend === undefined ? label : `${label} on backend "${budget.backend}"`, budget };
}

function live(id: string, doc: KeyDoc): LiveKey {
  return { id, doc, models: doc.models.length === 0 ? undefined : new Set(doc.models) };
}

function owners(list: ReadonlyArray<{ id: string; doc: unknown }>): Map<string, OwnerDoc> {
  const m = new Map<string, OwnerDoc>();
  for (const s of list) {
    const doc = asOwnerDoc(s.doc);
    if (doc !== undefined) m.set(s.id, doc);
  }
  return m;
}
