// The request as a session-key expression sees it. Every field is computed on first read, so an
// expression over one header costs a header copy, and only one that reads `model` or `user` scans
// the body, and then only its top level (strings skipped with a native search, nothing parsed).
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestView } from '../../config/types.js';
import { closingQuote } from '../../protocol/json-bytes.js';

/** What the picker reads of the client's request besides its body (Node's HTTP/1.1 and HTTP/2 requests both fit). */
export interface PickRequest {
  readonly method?: string | undefined;
  /** The request target as received: path and query. */
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

export class LazyRequestView implements RequestView {
  private h: Record<string, string> | undefined;
  private m: string | undefined;
  private u: string | undefined;

  constructor(
    private readonly req: PickRequest,
    private readonly body: Buffer,
  ) {}

  get method(): string {
    return this.req.method ?? '';
  }

  get path(): string {
    return this.req.url ?? '';
  }

  get headers(): Readonly<Record<string, string>> {
    if (this.h === undefined) {
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(this.req.headers)) {
        if (typeof v === 'string') h[k] = v;
        else if (Array.isArray(v)) h[k] = v.join(', ');
      }
      this.h = h;
    }
    return this.h;
  }

  get model(): string {
    return (this.m ??= topLevelString(this.body, 'model') ?? '');
  }

  get user(): string {
    return (this.u ??= topLevelString(this.body, 'user') ?? '');
  }
}

/**
 * The string value of a top-level key of a JSON object body, or undefined (absent, not a string,
 * not an object). The body was validated as JSON before routing, so a shallow walk is enough.
 */
export function topLevelString(raw: Buffer, key: string): string | undefined {
  const want = Buffer.from(key);
  const n = raw.length;
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < n; i++) {
    const c = raw[i] as number;
    if (c === 0x22) {
      const end = closingQuote(raw, i + 1);
      if (end === -1) return undefined;
      if (depth === 1 && expectKey && end - i - 1 === want.length && raw.compare(want, 0, want.length, i + 1, end) === 0) return stringValueAfter(raw, end + 1);
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return undefined;
    } else if (depth === 1) {
      if (c === 0x2c) expectKey = true;
      else if (c === 0x3a) expectKey = false;
    }
  }
  return undefined;
}

function stringValueAfter(raw: Buffer, from: number): string | undefined {
  let i = from;
  while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x0a || raw[i] === 0x0d || raw[i] === 0x09 || raw[i] === 0x3a)) i++;
  if (raw[i] !== 0x22) return undefined;
  const end = closingQuote(raw, i + 1);
  if (end === -1) return undefined;
  // Only a value with escapes needs JSON's decoding.
  if (!raw.subarray(i + 1, end).includes(0x5c)) return raw.toString('utf8', i + 1, end);
  try {
    const v: unknown = JSON.parse(raw.toString('utf8', i, end + 1));
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
