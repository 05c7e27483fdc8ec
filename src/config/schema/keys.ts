// The admin API's request bodies for virtual keys, teams and organisations. Every problem of a
// body is reported at once, each naming the field and how to fix it (the admin API answers 400
// with the list).
import * as z from 'zod';
import { formatPath } from '../diagnostics.js';
import { hasControlChars } from '../units.js';
import { issueToProblem, obj, scalar } from './common.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 };
const LONG_DURATION_RE = /^(\d{1,6}(d|h|m|s))+$/;

/** `30d`, `12h`, `1d12h`, `90s`: key expiry and rotation grace. Milliseconds, or undefined if malformed. */
export function parseLongDuration(text: string): number | undefined {
  if (!LONG_DURATION_RE.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(d|h|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return ms > 0 ? ms : undefined;
}

const longDuration = scalar<number>((v) => {
  const ms = typeof v === 'string' ? parseLongDuration(v) : undefined;
  return ms === undefined ? { ok: false, message: `expected a duration such as "30d", "12h" or "1d12h", got ${JSON.stringify(v)}`, hint: 'whole numbers with a unit d, h, m or s' } : { ok: true, value: ms };
});

const isoTime = scalar<string>((v) => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? { ok: true, value: new Date(t).toISOString() } : { ok: false, message: `expected an ISO 8601 time, got ${JSON.stringify(v)}`, hint: 'e.g. "2027-01-31T00:00:00Z"' };
});

const label = (what: string, max: number) =>
  scalar<string>((v) =>
    typeof v === 'string' && v.length > 0 && v.length <= max && !hasControlChars(v)
      ? { ok: true, value: v }
      : { ok: false, message: `${what} must be a non-empty string of at most ${max} printable characters`, hint: `e.g. "${what === 'workload' ? 'my-agent' : 'research'}"` },
  );

/** Ids of teams and organisations: they appear in metric labels and URLs. */
export const ownerId = scalar<string>((v) =>
  typeof v === 'string' && /^[a-z0-9][a-z0-9._-]{0,62}$/.test(v)
    ? { ok: true, value: v }
    : { ok: false, message: `expected an id of lower-case letters, digits, ".", "_" or "-" (at most 63), got ${JSON.stringify(v)}`, hint: 'e.g. "search-team"' },
);

const money = z.number().finite().min(0).max(1e9);

export const budgetInput = obj({
  amount: money,
  period: z.enum(['1d', '7d', '30d', 'month']),
  soft: money.optional(),
  backend: label('backend', 253).optional(),
});

const metadataInput = z.record(z.string().max(100), z.string().max(1000));

const keyFields = {
  name: label('name', 200),
  workload: label('workload', 256),
  team: ownerId.optional(),
  models: z.array(label('model', 256)).max(1000).optional(),
  rpm: z.number().int().min(1).optional(),
  tpm: z.number().int().min(1).optional(),
  budgets: z.array(budgetInput).max(10).optional(),
  expiresAt: isoTime.optional(),
  expiresIn: longDuration.optional(),
  metadata: metadataInput.optional(),
};

export const createKeyInput = obj(keyFields);
export type CreateKeyInput = z.output<typeof createKeyInput>;

/** An update names what changes; `null` clears an optional field. */
export const updateKeyInput = obj({
  name: keyFields.name.optional(),
  workload: keyFields.workload.optional(),
  team: ownerId.nullable().optional(),
  models: z.array(label('model', 256)).max(1000).optional(),
  rpm: z.number().int().min(1).nullable().optional(),
  tpm: z.number().int().min(1).nullable().optional(),
  budgets: z.array(budgetInput).max(10).optional(),
  expiresAt: isoTime.nullable().optional(),
  expiresIn: longDuration.optional(),
  metadata: metadataInput.optional(),
});
export type UpdateKeyInput = z.output<typeof updateKeyInput>;

export const rotateKeyInput = obj({ grace: longDuration.optional() });
export type RotateKeyInput = z.output<typeof rotateKeyInput>;

export const ownerInput = obj({
  name: label('name', 200).optional(),
  org: ownerId.nullable().optional(),
  budgets: z.array(budgetInput).max(10).optional(),
  metadata: metadataInput.optional(),
});
export type OwnerInput = z.output<typeof ownerInput>;

export function checkInput<S extends z.ZodType>(schema: S, body: unknown): Checked<z.output<S>> {
  const r = schema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  const problems = r.error.issues.map((issue) => {
    const p = issueToProblem(issue, body);
    const where = p.path.length === 0 ? '' : `${formatPath(p.path)}: `;
    return `${where}${p.message}${p.hint === undefined ? '' : ` (${p.hint})`}`;
  });
  return { ok: false, problems };
}
