// Schema building blocks (zod lives only in config/). Objects are strict in the Kubernetes sense: a
// field the API does not have is an error with a did-you-mean, found even when other fields are
// also wrong, so one run reports everything.
import * as z from 'zod';
import { didYouMean, formatPath, quoteList } from '../diagnostics.js';
import {
  checkHeaderName,
  checkHostname,
  checkNamespace,
  checkObjectName,
  parseByteQuantity,
  parseDuration,
  parseRfc3339Seconds,
  type Parsed,
} from '../units.js';

/** Extra parameters our custom issues carry; read back by `issueToProblem`. */
export interface IssueParams {
  readonly hint?: string;
  /** The issue is about this key of the object at `path` (unknown field), not the value. */
  readonly unknownKey?: string;
}

/**
 * A strict object: unknown keys are reported per key with the closest known key as a hint.
 * `removed` maps fields the real API once had (or has in another version) to a specific hint.
 */
export function obj<S extends z.ZodRawShape>(shape: S, removed: Readonly<Record<string, string>> = {}) {
  const known = Object.keys(shape);
  const knownSet = new Set(known);
  return z.looseObject(shape).check(
    z.superRefine(
      (val, ctx) => {
        if (typeof val !== 'object' || val === null || Array.isArray(val)) return;
        for (const key of Object.keys(val)) {
          if (knownSet.has(key)) continue;
          const special = removed[key];
          const guess = didYouMean(key, known);
          const hint =
            special ??
            (guess !== undefined
              ? `did you mean \`${guess}\`?`
              : known.length > 0
                ? `known fields here: ${quoteList(known)}`
                : 'this object takes no fields');
          ctx.addIssue({ code: 'custom', path: [key], message: `unknown field \`${key}\``, params: { unknownKey: key, hint } });
        }
      },
      { when: () => true },
    ),
  );
}

/** A scalar with a hand-written parser, so the message and hint are ours (and include an example). */
export function scalar<T>(parse: (v: unknown) => Parsed<T>) {
  return z.unknown().transform((v, ctx): T => {
    const r = parse(v);
    if (r.ok) return r.value;
    ctx.issues.push({ code: 'custom', input: v, message: r.message, params: { hint: r.hint } });
    return z.NEVER;
  });
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v === 'boolean' ? 'the boolean' : 'the number'} ${v}`;
  return typeof v;
}

export const duration = scalar<number>((v) => {
  if (typeof v === 'number') {
    return { ok: false, message: `duration ${v} has no unit`, hint: `add a unit, e.g. \`${v}s\` or \`${v}ms\`` };
  }
  if (typeof v !== 'string') return { ok: false, message: `expected a duration, got ${describeValue(v)}`, hint: 'e.g. `30s`, `500ms`, `1h30m`' };
  return parseDuration(v);
});

export const byteQuantity = scalar<number>((v) => {
  if (typeof v !== 'string' && typeof v !== 'number') {
    return { ok: false, message: `expected a byte quantity, got ${describeValue(v)}`, hint: 'e.g. `50Mi`, `32Ki`, `1G`' };
  }
  return parseByteQuantity(v);
});

export const rfc3339Seconds = scalar<number>((v) => {
  if (v instanceof Date) return { ok: true, value: Math.floor(v.getTime() / 1000) };
  if (typeof v !== 'string') return { ok: false, message: `expected a date-time, got ${describeValue(v)}`, hint: 'e.g. `2024-05-21T10:00:00Z`' };
  return parseRfc3339Seconds(v);
});

function checked(what: string, check: (s: string) => string | undefined, hint: string) {
  return scalar<string>((v) => {
    if (typeof v !== 'string') return { ok: false, message: `expected ${what}, got ${describeValue(v)}`, hint };
    const why = check(v);
    return why === undefined ? { ok: true, value: v } : { ok: false, message: `${what} "${v}" ${why}`, hint };
  });
}

export const objectName = checked('a name', checkObjectName, 'Kubernetes names are lower-case DNS names, e.g. `my-backend`');
export const namespaceName = checked('a namespace', checkNamespace, 'namespaces are lower-case DNS labels, e.g. `default`');
export const headerName = checked('a header name', checkHeaderName, 'e.g. `x-ai-eg-model`');
export const hostname = checked('a host name', (s) => checkHostname(s), 'e.g. `api.openai.com`');
export const wildcardHostname = checked('a host name', (s) => checkHostname(s, { wildcard: true }), 'e.g. `api.example.com` or `*.example.com`');

export const port = z.number().int().min(1).max(65535);
export const nonEmpty = z.string().min(1);

/** Any value: a field of the real API that Tollgate accepts but does not act on (warned later). */
export const accepted = z.unknown().optional();

export const metadata = obj({
  name: objectName,
  namespace: namespaceName.optional(),
  generateName: z.string().optional(),
  labels: z.record(z.string(), z.unknown()).optional(),
  annotations: z.record(z.string(), z.unknown()).optional(),
  uid: accepted,
  resourceVersion: accepted,
  generation: accepted,
  creationTimestamp: accepted,
  deletionTimestamp: accepted,
  deletionGracePeriodSeconds: accepted,
  ownerReferences: accepted,
  finalizers: accepted,
  managedFields: accepted,
  selfLink: accepted,
});

/** Wraps a kind's spec schema into the full manifest schema. */
export function manifest<S extends z.ZodType>(spec: S) {
  return obj({ apiVersion: z.string(), kind: z.string(), metadata, spec, status: accepted });
}

// Gateway API references (gwapiv1.*Reference). Group "" is the core group.
export const localPolicyTargetRef = obj({
  group: z.string(),
  kind: z.string(),
  name: objectName,
  sectionName: z.string().optional(),
});

export const secretObjectRef = obj({
  group: z.string().optional(),
  kind: z.string().optional(),
  name: objectName,
  namespace: namespaceName.optional(),
});

export const localObjectRef = obj({ group: z.string().optional(), kind: z.string().optional(), name: objectName });

export const headerMutation = obj({
  set: z.array(obj({ name: headerName, value: z.string() })).optional(),
  remove: z.array(headerName).optional(),
});

/** A JSON text (bodyMutation values): checked here so the error shows with the other schema errors. */
export const jsonText = z.string().check(
  z.superRefine((v, ctx) => {
    try {
      JSON.parse(v);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
        params: {
          hint: 'values are JSON text: a string needs JSON quotes inside the YAML, e.g. value: \'"scale"\'; numbers and booleans are bare, e.g. value: "0.2"',
        },
      });
    }
  }),
);

export const bodyMutation = obj({
  set: z.array(obj({ path: nonEmpty, value: jsonText })).optional(),
  remove: z.array(nonEmpty).optional(),
});

export type HeaderMutationSpec = z.infer<typeof headerMutation>;
export type BodyMutationSpec = z.infer<typeof bodyMutation>;
export type SecretObjectRefSpec = z.infer<typeof secretObjectRef>;
export type LocalPolicyTargetRefSpec = z.infer<typeof localPolicyTargetRef>;

export interface Problem {
  readonly path: PropertyKey[];
  readonly atKey: boolean;
  readonly message: string;
  readonly hint: string | undefined;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

const ARTICLE: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object (key: value pairs)',
  array: 'a list',
};

/**
 * Turns a zod issue into our wording: what is wrong, where, and how to fix it. With `redact`
 * (Secret manifests) values are described by type only, never shown.
 */
export function issueToProblem(issue: z.core.$ZodIssue, root: unknown, redact = false): Problem {
  const path = [...issue.path];
  const describe = redact ? describeType : describeValue;
  // The full path is shown next to the message; the message names just the field.
  let k = path.length - 1;
  while (k > 0 && typeof path[k] === 'number') k--;
  const field = path.length > 0 ? `\`${formatPath(path.slice(Math.max(k, 0)))}\`` : 'the manifest';
  const value = valueAt(root, path);
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) {
        return { path, atKey: false, message: `missing required field ${field}`, hint: undefined };
      }
      const expected = ARTICLE[issue.expected] ?? issue.expected;
      const quoteHint =
        issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')
          ? redact
            ? 'put the value in quotes'
            : `put the value in quotes: "${String(value)}"`
          : (issue.expected === 'number' || issue.expected === 'int') && typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)
            ? redact
              ? 'remove the quotes'
              : `remove the quotes: ${value}`
            : undefined;
      return { path, atKey: false, message: `${field} must be ${expected}, got ${describe(value)}`, hint: quoteHint };
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      const guess = typeof value === 'string' ? didYouMean(value, allowed) : undefined;
      return {
        path,
        atKey: false,
        message: `${field} must be one of ${quoteList(allowed)}, got ${describe(value)}`,
        hint: guess === undefined ? undefined : `did you mean \`${guess}\`?`,
      };
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      const what =
        issue.origin === 'array'
          ? `needs at least ${min} item${min === 1 ? '' : 's'}`
          : issue.origin === 'string'
            ? min <= 1
              ? 'must not be empty'
              : `must be at least ${min} characters`
            : `must be at least ${min}`;
      return { path, atKey: false, message: `${field} ${what}, got ${describe(value)}`, hint: undefined };
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      const what =
        issue.origin === 'array' ? `has more than ${max} items` : issue.origin === 'string' ? `is longer than ${max} characters` : `must be at most ${max}`;
      return { path, atKey: false, message: `${field} ${what}`, hint: undefined };
    }
    case 'custom': {
      const params = (issue.params ?? {}) as IssueParams;
      return { path, atKey: params.unknownKey !== undefined, message: issue.message, hint: params.hint };
    }
    case 'invalid_format':
    case 'not_multiple_of':
    case 'unrecognized_keys':
    case 'invalid_union':
    case 'invalid_key':
    case 'invalid_element':
      return { path, atKey: false, message: `${field}: ${issue.message}`, hint: undefined };
  }
}
