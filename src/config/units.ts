// Value formats shared by the Kubernetes-style APIs: Gateway API durations, Kubernetes quantities,
// names and header names. Each parser returns a value or a problem with an example of valid input.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; hint: string };

const DURATION_RE = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const DURATION_PART_RE = /([0-9]{1,5})(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** Gateway API Duration (GEP-2257): 1 to 4 `<number><unit>` parts, units h, m, s, ms. */
export function parseDuration(text: string): Parsed<number> {
  if (!DURATION_RE.test(text)) {
    return {
      ok: false,
      message: `"${text}" is not a duration`,
      hint: 'use a Gateway API duration: a whole number and a unit h, m, s or ms, e.g. `30s`, `500ms`, `1h30m`',
    };
  }
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART_RE)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return { ok: true, value: ms };
}

const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;
const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes resource.Quantity used as a byte count (`50Mi`, `32Ki`, `1G`, `1000`). */
export function parseByteQuantity(input: string | number): Parsed<number> {
  const text = String(input).trim();
  const bad = (why: string): Parsed<number> => ({
    ok: false,
    message: `"${text}" is not a byte quantity${why}`,
    hint: 'use a Kubernetes quantity such as `50Mi`, `32Ki`, `1G` or a plain number of bytes like `1048576`',
  });
  const m = QUANTITY_RE.exec(text);
  if (m === null) return bad('');
  if (m[1] === '-') return bad(' (it is negative)');
  let n = Number(m[2]);
  if (m[3] !== undefined) n *= 10 ** Number(m[3].slice(1));
  if (m[4] !== undefined) n *= SUFFIX[m[4]] ?? 1;
  const bytes = Math.ceil(n - 1e-9);
  if (!Number.isFinite(bytes) || bytes > Number.MAX_SAFE_INTEGER) return bad(' (too large)');
  if (bytes < 1) return bad(' (it must be at least 1 byte)');
  return { ok: true, value: bytes };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes object names: DNS-1123 subdomain, at most 253 characters. */
export function checkObjectName(name: string): string | undefined {
  if (name.length > 253) return 'is longer than 253 characters';
  if (!DNS_SUBDOMAIN.test(name)) return 'must consist of lower-case letters, digits, `-` and `.`, and start and end with a letter or digit';
  return undefined;
}

/** Namespaces: DNS-1123 label, at most 63 characters. */
export function checkNamespace(ns: string): string | undefined {
  if (ns.length > 63) return 'is longer than 63 characters';
  if (!DNS_LABEL.test(ns)) return 'must consist of lower-case letters, digits and `-`, and start and end with a letter or digit';
  return undefined;
}

// RFC 7230 token: what an HTTP header name may contain.
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

export function checkHeaderName(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 256) return 'is longer than 256 characters';
  if (!HEADER_NAME.test(name)) return 'is not a valid HTTP header name (letters, digits and !#$%&\'*+-.^_`|~ only)';
  return undefined;
}

/** Header values may not carry line breaks or other control characters (they would split headers). */
export function hasControlChars(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

const HOSTNAME_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

/** RFC 1123 host name, optionally with a leading `*.` wildcard (Gateway API Hostname). */
export function checkHostname(host: string, { wildcard = false } = {}): string | undefined {
  let h = host;
  if (wildcard && h.startsWith('*.')) h = h.slice(2);
  if (h.length === 0 || h.length > 253) return 'must be 1 to 253 characters';
  if (h.endsWith('.')) h = h.slice(0, -1);
  for (const label of h.split('.')) {
    if (label.length > 63 || !HOSTNAME_LABEL.test(label)) {
      return `is not a valid host name (label "${label}" must be letters, digits and \`-\`, at most 63 characters)`;
    }
  }
  return undefined;
}

/** RFC 3339 date-time (Kubernetes metav1.Time) → epoch seconds. */
export function parseRfc3339Seconds(text: string): Parsed<number> {
  const re = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
  const ms = re.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    return { ok: false, message: `"${text}" is not an RFC 3339 date-time`, hint: 'write it like `2024-05-21T10:00:00Z`' };
  }
  return { ok: true, value: Math.floor(ms / 1000) };
}

/**
 * Gateway API regexes are RE2; JavaScript's dialect differs at the edges. A leading `(?i)` (the
 * common RE2 flag) becomes the `i` flag; anything JavaScript cannot compile is an error here.
 */
export function compileHeaderRegex(source: string): { regex: RegExp } | { error: string } {
  let body = source;
  let flags = '';
  const m = /^\(\?([imsU]+)\)/.exec(body);
  if (m !== null) {
    body = body.slice(m[0].length);
    for (const f of m[1] ?? '') {
      if (f === 'i' || f === 'm' || f === 's') flags += flags.includes(f) ? '' : f;
      else return { error: `flag (?${f}) is not supported` };
    }
  }
  try {
    // Compiled on its own first: `a)|(b` is invalid alone but would be valid (and unanchored) wrapped.
    new RegExp(body, flags);
    return { regex: new RegExp(`^(?:${body})$`, flags) };
  } catch (err) {
    return { error: err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err) };
  }
}
