// Virtual keys, teams and organisations as stored documents (StateStore kinds `key`, `team`, `org`).
// A key belongs to at most one team, a team to at most one organisation; budgets hang at each level.
// The documents are plain JSON; what a document may hold is checked where it enters (the admin API)
// and again, leniently, when a replica reads one (a record written by a newer version must not stop
// an older one from serving the keys it does understand).

export const KEY_KIND = 'key';
export const TEAM_KIND = 'team';
export const ORG_KIND = 'org';

/** A budget period: rolling from the budget's anchor in whole days, or the calendar month (UTC). */
export type Period = '1d' | '7d' | '30d' | 'month';
export const PERIODS: readonly Period[] = ['1d', '7d', '30d', 'month'];

export interface Budget {
  /** In the rates file's currency. */
  readonly amount: number;
  readonly period: Period;
  /** Spend at which the gateway warns (log line, metric) without refusing anything. */
  readonly soft?: number | undefined;
  /** Where the 1d/7d/30d windows start counting from (ISO time; the budget's creation). */
  readonly anchor: string;
  /**
   * Only spend on this backend (AIServiceBackend name) counts, and an exhausted budget sends the
   * request to the route's next candidate instead of refusing it.
   */
  readonly backend?: string | undefined;
}

/** The spend subject of one budget of `owner` (`key:<id>`, `team:<id>`, …): backend budgets count apart. */
export function budgetSubject(owner: string, b: Pick<Budget, 'backend'>): string {
  return b.backend === undefined ? owner : `${owner}@${b.backend}`;
}

/** One secret of a key, as a salted hash; `notAfter` set on the old secret of a rotation. */
export interface StoredSecret {
  readonly salt: string;
  readonly hash: string;
  readonly notAfter?: string | undefined;
}

export type KeyState = 'active' | 'revoked';

export interface KeyDoc {
  readonly name: string;
  /** The x-workload-app identity requests with this key get. */
  readonly workload: string;
  readonly team?: string | undefined;
  /** Models the key may ask for (the body's `model`); empty: all. */
  readonly models: readonly string[];
  readonly rpm?: number | undefined;
  readonly tpm?: number | undefined;
  readonly budgets: readonly Budget[];
  readonly expiresAt?: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly state: KeyState;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly revokedAt?: string | undefined;
  readonly secrets: readonly StoredSecret[];
}

export interface OwnerDoc {
  readonly name?: string | undefined;
  /** Teams only: the organisation the team belongs to. */
  readonly org?: string | undefined;
  readonly budgets: readonly Budget[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A key as the API shows it: everything but the secrets, with the state as of now. */
export function publicKey(id: string, version: number, doc: KeyDoc, now: number): Record<string, unknown> {
  const { secrets, ...rest } = doc;
  const grace = secrets.filter((s) => s.notAfter !== undefined && Date.parse(s.notAfter) > now).map((s) => s.notAfter);
  return { id, version, ...rest, state: effectiveState(doc, now), ...(grace.length > 0 ? { previousSecretValidUntil: grace[0] } : {}) };
}

export function effectiveState(doc: KeyDoc, now: number): 'active' | 'revoked' | 'expired' {
  if (doc.state === 'revoked') return 'revoked';
  if (doc.expiresAt !== undefined && Date.parse(doc.expiresAt) <= now) return 'expired';
  return 'active';
}

/** Reads a stored key leniently: undefined when the document is not a key this version understands. */
export function asKeyDoc(v: unknown): KeyDoc | undefined {
  if (!isObject(v)) return undefined;
  if (typeof v['name'] !== 'string' || typeof v['workload'] !== 'string' || !Array.isArray(v['secrets'])) return undefined;
  if (v['state'] !== 'active' && v['state'] !== 'revoked') return undefined;
  return v as unknown as KeyDoc;
}

export function asOwnerDoc(v: unknown): OwnerDoc | undefined {
  if (!isObject(v) || !Array.isArray(v['budgets'])) return undefined;
  return v as unknown as OwnerDoc;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
