// The exposition parser verify reads counters with: exact values, escaped labels, specials, and a
// line it cannot read is an error that names the line (never a silently wrong count).
import { describe, expect, it } from 'vitest';
import { ExpositionError, families, parseExposition, sumOf } from '../../src/verify/prometheus.js';

const TEXT = `# HELP http_local_rate_limit_rate_limited Requests rejected.
# TYPE http_local_rate_limit_rate_limited counter
http_local_rate_limit_rate_limited{rule="default/seed/0",route="a"} 3
http_local_rate_limit_rate_limited{rule="default/seed/1",route="b"} 1
gen_ai_client_token_usage_token_sum{gen_ai_request_model="gpt-oss-120b",gen_ai_token_type="input",path="a\\"b\\\\c\\nd"} 1.5e3
gen_ai_client_token_usage_token_bucket{le="+Inf"} 7 1700000000000
tollgate_process_nodejs_eventloop_lag_mean_seconds Nan
weird_inf -Inf
no_labels 42
`;

describe('parseExposition', () => {
  it('reads names, labels (with escapes), values, timestamps and specials', () => {
    const s = parseExposition(TEXT);
    expect(s).toHaveLength(7);
    expect(sumOf(s, 'http_local_rate_limit_rate_limited')).toBe(4);
    expect(sumOf(s, 'http_local_rate_limit_rate_limited', { rule: 'default/seed/1' })).toBe(1);
    expect(sumOf(s, 'absent_metric')).toBeUndefined();
    const sum = s.find((x) => x.name === 'gen_ai_client_token_usage_token_sum');
    expect(sum?.value).toBe(1500);
    expect(sum?.labels).toEqual({ gen_ai_request_model: 'gpt-oss-120b', gen_ai_token_type: 'input', path: 'a"b\\c\nd' });
    expect(s.find((x) => x.name === 'gen_ai_client_token_usage_token_bucket')?.labels['le']).toBe('+Inf');
    expect(Number.isNaN(s.find((x) => x.name === 'tollgate_process_nodejs_eventloop_lag_mean_seconds')?.value)).toBe(true);
    expect(s.find((x) => x.name === 'weird_inf')?.value).toBe(-Infinity);
  });

  it('names the line it cannot read', () => {
    expect(() => parseExposition('ok 1\nbroken{rule="x} 2\n')).toThrow(new ExpositionError(2, 'unterminated value of label rule'));
    expect(() => parseExposition('ok one\n')).toThrow(/line 1: bad sample value "one" for ok/);
    expect(() => parseExposition('{a="b"} 1\n')).toThrow(/line 1: no metric name/);
  });
});

describe('families', () => {
  it('names every declared family, including one with no samples at this instant', () => {
    const text = `${TEXT}# HELP tollgate_process_nodejs_active_requests Requests in flight.\n# TYPE tollgate_process_nodejs_active_requests gauge\n`;
    expect([...families(text)]).toEqual(['http_local_rate_limit_rate_limited', 'tollgate_process_nodejs_active_requests']);
  });
});
