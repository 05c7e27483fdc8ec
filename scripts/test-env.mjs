#!/usr/bin/env node
// Installs the system programs the test suite uses (real Redis, Prometheus, PostgreSQL, Chromium…)
// from Debian's packages when they are missing. Run by `npm test`, so a fresh machine needs nothing
// installed by hand. Each entry says which tests need it; keep the list to what tests really use.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** @type {Array<{ check: string[], pkgs: string[], why: string }>} */
const REQUIRED = [
  { check: ['redis-server'], pkgs: ['redis-server'], why: 'global rate limits on a real Redis' },
  { check: ['prometheus', 'promtool'], pkgs: ['prometheus'], why: 'a real Prometheus scraping the gateway (test/observability)' },
  { check: ['pg_ctlcluster', 'psql'], pkgs: ['postgresql'], why: 'the usage ledger\'s PostgreSQL sink against a real PostgreSQL (test/observability)' },
  { check: ['chromium'], pkgs: ['chromium'], why: 'the admin dashboard in a real browser (test/observability)' },
  { check: ['tini'], pkgs: ['tini'], why: 'the container image\'s init, run by the image file system test (test/deploy)' },
  { check: ['jq'], pkgs: ['jq'], why: 'the ledger recipe in docs/observability.md, run as documented (test/observability)' },
];

function have(bin) {
  if (bin.startsWith('/')) return existsSync(bin);
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

const missing = REQUIRED.filter((r) => !r.check.every(have));
if (missing.length === 0) process.exit(0);

const pkgs = [...new Set(missing.flatMap((r) => r.pkgs))];
process.stderr.write(`test-env: installing ${pkgs.join(', ')} (${missing.map((m) => m.why).join('; ')})\n`);
const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
const run = (args) => {
  const [cmd, ...rest] = [...sudo, ...args];
  execFileSync(cmd, rest, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
};
try {
  run(['apt-get', 'update', '-q']);
  run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...pkgs]);
} catch (err) {
  process.stderr.write(`test-env: could not install ${pkgs.join(', ')}: ${err instanceof Error ? err.message : err}\n`);
  process.stderr.write('hint: the tests need these programs; install them with apt-get as root, then run `npm test` again\n');
  process.exit(1);
}
const still = missing.filter((r) => !r.check.every(have));
if (still.length > 0) {
  process.stderr.write(`test-env: still missing after install: ${still.flatMap((r) => r.check).join(', ')}\n`);
  process.exit(1);
}
