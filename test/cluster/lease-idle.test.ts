// A worker's leases on its own (the class the worker's limit store uses), on a clock the test moves:
// what it spends is reported with the next message, never on a timer, and a lease unused for a
// second goes back with what was spent from it.
import { describe, expect, it } from 'vitest';
import { IDLE_MS, Leases } from '../../src/cluster/leases.js';
import type { Check } from '../../src/limits/store.js';

const check: Check = { kind: 'window', key: 'k', windowMs: 3_600_000, limit: 1_000, cost: 1, shadow: false, leaseId: '' };

describe('a worker’s leases', () => {
  it('report spending only when asked for a message, and go back after a second unused', () => {
    let now = 1_000_000;
    const leases = new Leases(() => now);
    leases.grant({ key: 'k', start: 0, end: 3_600_000, limit: 1_000, amount: 10, free: 500 });
    for (let i = 0; i < 3; i++) expect(leases.tryAdmit([check], 'all')?.admitted).toBe(true);
    // Spent, not yet reported: nothing goes back while the lease is in use.
    now += IDLE_MS - 1;
    expect(leases.returnIdle()).toBe(false);
    expect(leases.holding).toBe(true);
    expect(leases.tryAdmit([check], 'all')?.admitted).toBe(true);
    now += IDLE_MS;
    expect(leases.returnIdle()).toBe(true);
    expect(leases.holding).toBe(false);
    // One report: the four spent and the six unused, returned.
    expect(leases.takeReports()).toEqual([{ key: 'k', start: 0, windowMs: 3_600_000, consumed: 4, returned: 6 }]);
    expect(leases.tryAdmit([check], 'all')).toBeUndefined();
  });
});
