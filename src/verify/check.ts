// What a check is and how it records evidence. A check states each thing it proved as it goes
// (the evidence a reader can re-run by hand) and stops at the first thing that does not hold, with
// what was expected, what came back and, where we can tell, what to look at.
import type { HttpResponse } from './http.js';

export type Suite = 'seed' | 'full';

export type Outcome = 'passed' | 'failed' | 'skipped' | 'not-run';

export interface Failure {
  readonly message: string;
  readonly expected?: string | undefined;
  readonly actual?: string | undefined;
  readonly hint?: string | undefined;
}

export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly suite: Suite;
  readonly source: string;
  readonly outcome: Outcome;
  readonly ms: number;
  /** What was shown to hold, in order. */
  readonly evidence: readonly string[];
  readonly failure?: Failure | undefined;
  /** Why it was skipped or not run. */
  readonly reason?: string | undefined;
}

export class CheckFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
    this.name = 'CheckFailed';
  }
}

export interface FailDetail {
  readonly expected?: string;
  readonly actual?: string;
  readonly hint?: string;
}

/** The recorder a check writes its evidence to; its assertion helpers throw CheckFailed. */
export class Probe {
  readonly evidence: string[] = [];

  note(text: string): void {
    this.evidence.push(text);
  }

  fail(message: string, detail: FailDetail = {}): never {
    throw new CheckFailed({ message, ...detail });
  }

  /** Holds, or the check fails; `proved` is recorded as evidence when it holds. */
  ok(cond: boolean, proved: string, detail: FailDetail & { message?: string } = {}): void {
    if (!cond) this.fail(detail.message ?? `not true: ${proved}`, detail);
    this.note(proved);
  }

  equal<T extends string | number | boolean>(actual: T, expected: T, what: string, hint?: string): void {
    if (actual !== expected) this.fail(`${what}: unexpected value`, { expected: String(expected), actual: String(actual), ...(hint === undefined ? {} : { hint }) });
    this.note(`${what}: ${String(actual)}`);
  }

  /** The response has one of the expected statuses; the failure shows the body the gateway sent. */
  status(res: HttpResponse, expected: number | readonly number[], what: string, hint?: string): void {
    const list = typeof expected === 'number' ? [expected] : expected;
    if (!list.includes(res.status)) {
      this.fail(`${what}: unexpected status from ${res.method} ${res.url}`, {
        expected: list.join(' or '),
        actual: `${res.status} ${excerpt(res.body.toString('utf8'))}`,
        ...(hint === undefined ? {} : { hint }),
      });
    }
    this.note(`${what}: ${res.status}`);
  }

  /** The body as JSON, or the check fails showing what came instead. */
  json<T>(res: HttpResponse, what: string): T {
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch {
      return this.fail(`${what}: the body is not JSON`, { expected: 'a JSON body', actual: excerpt(res.body.toString('utf8')) });
    }
  }

  /** An OpenAI-shaped error body: {"error": {"message", "type", "code"}}, message and type non-empty. */
  openAiError(res: HttpResponse, what: string, code?: string): { message: string; type: string; code: string | null } {
    const err = openAiErrorOf(res.body);
    if (err === undefined) {
      this.fail(`${what}: the body is not an OpenAI-shaped error`, {
        expected: '{"error":{"message":"…","type":"…","code":"…"}}',
        actual: excerpt(res.body.toString('utf8')),
      });
    }
    if (code !== undefined && err.code !== code) this.fail(`${what}: unexpected error code`, { expected: code, actual: String(err.code) });
    this.note(`${what}: OpenAI error type=${err.type} code=${String(err.code)}`);
    return err;
  }
}

export function openAiErrorOf(body: Buffer): { message: string; type: string; code: string | null } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = (v as { error?: unknown }).error;
  if (typeof e !== 'object' || e === null) return undefined;
  const { message, type, code } = e as { message?: unknown; type?: unknown; code?: unknown };
  if (typeof message !== 'string' || message.length === 0 || typeof type !== 'string' || type.length === 0) return undefined;
  if (code !== null && typeof code !== 'string' && typeof code !== 'number') return undefined;
  return { message, type, code: code === null ? null : String(code) };
}

export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length === 0) return '(empty body)';
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
