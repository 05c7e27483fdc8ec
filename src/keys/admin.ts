// Run-time changes to keys, teams and organisations. Every change is a read-modify-write under the
// store's compare-and-set: two admins changing one key at once are serialised (the second re-reads
// and re-applies its change on top of the first), so the last writer wins and no change is ever
// half-applied or lost. The secret of a new or rotated key is returned here once and never stored.
import type { CreateKeyInput, OwnerInput, RotateKeyInput, UpdateKeyInput } from '../config/schema/keys.js';
import type { StateStore, StoredDoc } from '../state/store.js';
import { asKeyDoc, asOwnerDoc, type Budget, KEY_KIND, type KeyDoc, ORG_KIND, type OwnerDoc, publicKey, TEAM_KIND } from './model.js';
import { formatKey, hashSecret, newKeyId, newSecret } from './secret.js';

const MAX_CAS_ATTEMPTS = 50;

export class AdminError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

export type OwnerKind = typeof TEAM_KIND | typeof ORG_KIND;

export class KeyAdmin {
  constructor(
    private readonly store: StateStore,
    private readonly now: () => number = Date.now,
  ) {}

  async createKey(input: CreateKeyInput): Promise<{ id: string; key: string; record: Record<string, unknown> }> {
    const now = this.now();
    const at = new Date(now).toISOString();
    if (input.expiresAt !== undefined && input.expiresIn !== undefined) throw new AdminError(400, 'give expiresAt or expiresIn, not both');
    if (input.team !== undefined) await this.ensureOwner(TEAM_KIND, input.team);
    const secret = newSecret();
    const doc: KeyDoc = {
      name: input.name,
      workload: input.workload,
      team: input.team,
      models: input.models ?? [],
      rpm: input.rpm,
      tpm: input.tpm,
      budgets: (input.budgets ?? []).map((b) => ({ ...b, anchor: at })),
      expiresAt: input.expiresAt ?? (input.expiresIn === undefined ? undefined : new Date(now + input.expiresIn).toISOString()),
      metadata: input.metadata ?? {},
      state: 'active',
      createdAt: at,
      updatedAt: at,
      secrets: [hashSecret(secret)],
    };
    // A fresh id is taken only if no key has it (60 random bits: a retry is already improbable).
    for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
      const id = newKeyId();
      const r = await this.store.put(KEY_KIND, id, clean(doc), 0);
      if (r.ok) return { id, key: formatKey(id, secret), record: publicKey(id, r.version, doc, now) };
    }
    throw new AdminError(409, 'could not find a free key id; retry');
  }

  async listKeys(): Promise<Array<Record<string, unknown>>> {
    const now = this.now();
    const out: Array<Record<string, unknown>> = [];
    for (const s of await this.store.list(KEY_KIND)) {
      const doc = asKeyDoc(s.doc);
      if (doc !== undefined) out.push(publicKey(s.id, s.version, doc, now));
    }
    return out;
  }

  async getKey(id: string): Promise<Record<string, unknown>> {
    const s = await this.store.get(KEY_KIND, id);
    const doc = s === undefined ? undefined : asKeyDoc(s.doc);
    if (s === undefined || doc === undefined) throw notFound('key', id);
    return publicKey(id, s.version, doc, this.now());
  }

  async updateKey(id: string, input: UpdateKeyInput): Promise<Record<string, unknown>> {
    if (input.expiresAt !== undefined && input.expiresIn !== undefined) throw new AdminError(400, 'give expiresAt or expiresIn, not both');
    if (typeof input.team === 'string') await this.ensureOwner(TEAM_KIND, input.team);
    return this.changeKey(id, (doc, now) => {
      const at = new Date(now).toISOString();
      const next: Record<string, unknown> = { ...doc, updatedAt: at };
      for (const f of ['name', 'workload', 'models', 'metadata'] as const) if (input[f] !== undefined) next[f] = input[f];
      for (const f of ['team', 'rpm', 'tpm', 'expiresAt'] as const) if (input[f] !== undefined) next[f] = input[f] ?? undefined;
      if (input.expiresIn !== undefined) next['expiresAt'] = new Date(now + input.expiresIn).toISOString();
      if (input.budgets !== undefined) next['budgets'] = keepAnchors(doc.budgets, input.budgets, at);
      return next as unknown as KeyDoc;
    });
  }

  /** A new secret; the old one keeps working for `grace` (default: not at all). */
  async rotateKey(id: string, input: RotateKeyInput): Promise<{ id: string; key: string; record: Record<string, unknown> }> {
    const secret = newSecret();
    const record = await this.changeKey(id, (doc, now) => {
      if (doc.state === 'revoked') throw new AdminError(409, `key ${id} is revoked; a revoked key cannot be rotated (create a new one)`);
      const grace = input.grace ?? 0;
      // Only the current secret gets a grace period; older ones (from earlier rotations) keep theirs.
      const kept = doc.secrets.filter((s) => s.notAfter !== undefined && Date.parse(s.notAfter) > now);
      const current = doc.secrets.find((s) => s.notAfter === undefined);
      if (grace > 0 && current !== undefined) kept.push({ ...current, notAfter: new Date(now + grace).toISOString() });
      return { ...doc, updatedAt: new Date(now).toISOString(), secrets: [hashSecret(secret), ...kept] };
    });
    return { id, key: formatKey(id, secret), record };
  }

  async revokeKey(id: string): Promise<Record<string, unknown>> {
    return this.changeKey(id, (doc, now) => {
      const at = new Date(now).toISOString();
      return doc.state === 'revoked' ? doc : { ...doc, state: 'revoked', revokedAt: at, updatedAt: at };
    });
  }

  async putOwner(kind: OwnerKind, id: string, input: OwnerInput): Promise<Record<string, unknown>> {
    if (kind === ORG_KIND && input.org !== undefined) throw new AdminError(400, 'org: an organisation does not belong to another one (only teams have an org)');
    if (typeof input.org === 'string') await this.ensureOwner(ORG_KIND, input.org);
    for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
      const now = this.now();
      const at = new Date(now).toISOString();
      const cur = await this.store.get(kind, id);
      const doc = cur === undefined ? undefined : asOwnerDoc(cur.doc);
      const next: OwnerDoc = {
        name: input.name ?? doc?.name,
        org: input.org === undefined ? doc?.org : (input.org ?? undefined),
        budgets: input.budgets === undefined ? (doc?.budgets ?? []) : keepAnchors(doc?.budgets ?? [], input.budgets, at),
        metadata: input.metadata ?? doc?.metadata ?? {},
        createdAt: doc?.createdAt ?? at,
        updatedAt: at,
      };
      const r = await this.store.put(kind, id, clean(next), cur?.version ?? 0);
      if (r.ok) return { id, version: r.version, ...next };
    }
    throw conflict(kind, id);
  }

  async getOwner(kind: OwnerKind, id: string): Promise<Record<string, unknown>> {
    const s = await this.store.get(kind, id);
    const doc = s === undefined ? undefined : asOwnerDoc(s.doc);
    if (s === undefined || doc === undefined) throw notFound(kind, id);
    return { id, version: s.version, ...doc };
  }

  async listOwners(kind: OwnerKind): Promise<Array<Record<string, unknown>>> {
    return (await this.store.list(kind)).flatMap((s: StoredDoc) => {
      const doc = asOwnerDoc(s.doc);
      return doc === undefined ? [] : [{ id: s.id, version: s.version, ...doc }];
    });
  }

  private async changeKey(id: string, change: (doc: KeyDoc, now: number) => KeyDoc): Promise<Record<string, unknown>> {
    for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
      const cur = await this.store.get(KEY_KIND, id);
      const doc = cur === undefined ? undefined : asKeyDoc(cur.doc);
      if (cur === undefined || doc === undefined) throw notFound('key', id);
      const now = this.now();
      const next = change(doc, now);
      if (next === doc) return publicKey(id, cur.version, doc, now);
      const r = await this.store.put(KEY_KIND, id, clean(next), cur.version);
      if (r.ok) return publicKey(id, r.version, next, now);
    }
    throw conflict('key', id);
  }

  /** A key names its team, a team its organisation: the named owner is created (without budgets) if new. */
  private async ensureOwner(kind: OwnerKind, id: string): Promise<void> {
    if ((await this.store.get(kind, id)) !== undefined) return;
    const at = new Date(this.now()).toISOString();
    const doc: OwnerDoc = { budgets: [], metadata: {}, createdAt: at, updatedAt: at };
    await this.store.put(kind, id, clean(doc), 0);
  }
}

/** A budget whose period is unchanged keeps its anchor, so an update does not move its reset time. */
function keepAnchors(old: readonly Budget[], next: ReadonlyArray<Omit<Budget, 'anchor'>>, at: string): Budget[] {
  return next.map((b) => ({ ...b, anchor: old.find((o) => o.period === b.period && o.backend === b.backend)?.anchor ?? at }));
}

/** Plain JSON: undefined fields dropped (the store takes JSON documents). */
function clean(doc: object): unknown {
  return JSON.parse(JSON.stringify(doc)) as unknown;
}

function notFound(kind: string, id: string): AdminError {
  return new AdminError(404, `no ${kind} with id "${id.slice(0, 100)}"`);
}

function conflict(kind: string, id: string): AdminError {
  return new AdminError(409, `the ${kind} "${id}" kept changing under this update; retry it`);
}
