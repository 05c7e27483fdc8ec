// QuotaPolicy budgets per backend candidate, as a proxied request moves through its candidates: a
// backend whose budget is exhausted is skipped for the next candidate by priority (without spending
// a retry), and only when none is left does the client get the quota's 429. The gate also holds the
// budget ticket of the backend it admitted, so the request can settle it with the real usage (or
// release it when another backend served). It is separate from ProxyRequest because budgets are
// their own concern: the attempt loop only asks "may this backend be tried?".
import type { BackendRefConfig } from '../config/types.js';
import { toGatewayError, type GatewayError } from '../core/errors.js';
import type { QuotaTicket } from '../limits/quotas.js';
import { nextAvailable, type PriorityLevel, type RulePlan } from '../routing/candidates.js';
import type { QuotaHook } from './proxy-types.js';

/** What the gate reports back to the request it serves. */
export interface QuotaGateOwner {
  /** The request has ended: a ticket granted now is released at once. */
  isFinished(): boolean;
  /** The backend may be tried now. */
  dispatch(ref: BackendRefConfig): void;
  /** The backend's budget is exhausted; the error is what the client gets if nothing else is left. */
  blocked(err: GatewayError): void;
  fail(err: GatewayError): void;
}

export class QuotaGate {
  private readonly blockedRefs = new Set<BackendRefConfig>();
  private ticket: QuotaTicket | undefined;
  private ticketRef: BackendRefConfig | undefined;
  /** The admitted backend's quota headers, added to a successful response. */
  headers: Readonly<Record<string, string>> | undefined;

  constructor(
    private readonly quota: QuotaHook | undefined,
    private readonly plan: RulePlan,
    private readonly owner: QuotaGateOwner,
  ) {}

  gate(ref: BackendRefConfig, level: PriorityLevel): void {
    const quota = this.quota;
    if (quota === undefined || !quota.applies(ref)) {
      this.owner.dispatch(ref);
      return;
    }
    quota.check(ref).then(
      (d) => {
        if (this.owner.isFinished()) {
          if (d.ok) quota.release(d.ticket);
          return;
        }
        if (d.ok) {
          if (this.ticket !== undefined && this.ticketRef !== ref) quota.release(this.ticket);
          this.ticket = d.ticket;
          this.ticketRef = ref;
          this.headers = d.headers;
          this.owner.dispatch(ref);
          return;
        }
        this.blockedRefs.add(ref);
        this.owner.blocked(d.error);
        const alt = nextAvailable(this.plan, level, this.blockedRefs);
        if (alt === undefined) this.owner.fail(d.error);
        else this.gate(alt.ref, alt.level);
      },
      (err: unknown) => this.owner.fail(toGatewayError(err)),
    );
  }

  /** The ticket to settle when `served` answered; undefined when its budget was not the one held. */
  ticketFor(served: BackendRefConfig | undefined): QuotaTicket | undefined {
    return this.ticketRef === served ? this.ticket : undefined;
  }

  /** Releases the held ticket unless `served` is the backend it was taken for (that one is settled). */
  releaseUnless(served: BackendRefConfig | undefined): void {
    if (this.ticket !== undefined && this.ticketRef !== served) this.quota?.release(this.ticket);
  }
}
