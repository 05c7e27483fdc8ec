// Fault injection: per request with the `x-sim-fault` header, or at random rates for every request
// with `--fault SPEC@RATE`. A spec is a comma- or semicolon-separated list of:
//   status=CODE            answer CODE at once with an error body (429 and 503 carry retry-after)
//   delay=MS               hold the request MS before the engine sees it (a latency spike)
//   slow-first-byte=MS     hold the response headers MS (time to first byte)
//   reset-after=N          drop the connection after N tokens, the response unfinished (0: a TCP RST before any byte)
//   stall-after=N:MS       after N tokens, send nothing for MS, then carry on
//   malformed-after=N      after N tokens, send one chunk that is not valid JSON, then carry on
//   truncate-after=N       after N tokens, end the response cleanly without finish_reason or [DONE]
//   hang                   accept the request and never answer (until the client gives up)
// Token counts are per response (all choices together).

export interface FaultPlan {
  status?: number;
  delayMs: number;
  slowFirstByteMs: number;
  resetAfter?: number;
  stallAfter?: { readonly tokens: number; readonly ms: number };
  malformedAfter?: number;
  truncateAfter?: number;
  hang: boolean;
}

export const NO_FAULT: Readonly<FaultPlan> = Object.freeze({ delayMs: 0, slowFirstByteMs: 0, hang: false });

export interface RatedFault {
  readonly spec: string;
  readonly rate: number;
  readonly plan: FaultPlan;
}

export class FaultSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

const KINDS = 'status=CODE, delay=MS, slow-first-byte=MS, reset-after=N, stall-after=N:MS, malformed-after=N, truncate-after=N, hang';

function nonNegInt(value: string | undefined, what: string, max = 86_400_000): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) > max) {
    throw new FaultSpecError(`${what} needs a whole number from 0 to ${max}, got ${JSON.stringify(value ?? '')}`);
  }
  return Number(value);
}

/** Parse a spec into a plan, merged over `into` (so several specs can combine). */
export function parseFaultSpec(spec: string, into: FaultPlan = { ...NO_FAULT }): FaultPlan {
  const plan = into;
  for (const raw of spec.split(/[;,]/)) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : item.slice(eq + 1).trim();
    switch (key) {
      case 'status': {
        const s = nonNegInt(value, 'status', 599);
        if (s < 400) throw new FaultSpecError(`status=${s}: an injected status must be an error, 400 to 599`);
        plan.status = s;
        break;
      }
      case 'delay':
        plan.delayMs = nonNegInt(value, 'delay');
        break;
      case 'slow-first-byte':
        plan.slowFirstByteMs = nonNegInt(value, 'slow-first-byte');
        break;
      case 'reset-after':
        plan.resetAfter = nonNegInt(value, 'reset-after', 10_000_000);
        break;
      case 'stall-after': {
        const [n, ms] = (value ?? '').split(':');
        plan.stallAfter = { tokens: nonNegInt(n, 'stall-after tokens', 10_000_000), ms: nonNegInt(ms, 'stall-after milliseconds (stall-after=N:MS)') };
        break;
      }
      case 'malformed-after':
        plan.malformedAfter = nonNegInt(value, 'malformed-after', 10_000_000);
        break;
      case 'truncate-after':
        plan.truncateAfter = nonNegInt(value, 'truncate-after', 10_000_000);
        break;
      case 'hang':
        plan.hang = true;
        break;
      default:
        throw new FaultSpecError(`unknown fault "${key}"; faults are: ${KINDS}`);
    }
  }
  return plan;
}

/** `SPEC@RATE` (rate 0..1, default 1) for --fault. */
export function parseRatedFault(text: string): RatedFault {
  const at = text.lastIndexOf('@');
  const spec = at < 0 ? text : text.slice(0, at);
  const rateText = at < 0 ? '1' : text.slice(at + 1);
  const rate = Number(rateText);
  if (!/^(0|1|0?\.\d+|1\.0*)$/.test(rateText) || rate < 0 || rate > 1) {
    throw new FaultSpecError(`--fault ${text}: the rate after @ must be a probability from 0 to 1 (e.g. status=503@0.01)`);
  }
  return { spec, rate, plan: parseFaultSpec(spec) };
}

export function isNoFault(p: FaultPlan): boolean {
  return (
    p.status === undefined &&
    p.delayMs === 0 &&
    p.slowFirstByteMs === 0 &&
    p.resetAfter === undefined &&
    p.stallAfter === undefined &&
    p.malformedAfter === undefined &&
    p.truncateAfter === undefined &&
    !p.hang
  );
}
