#!/usr/bin/env node
// `npm test`: the whole check, each phase announced with what it runs and how long it took.
//   1. the system programs the tests use (scripts/test-env.mjs installs any that are missing);
//   2. build, typecheck and lint side by side: the build only emits (--noCheck) because the
//      typecheck already checks src and test in one program; tsc and ESLint keep caches in .tmp/
//      so a second run only re-checks what changed;
//   3. vitest, with a slowest-tests report before its summary;
//   4. the multi-worker tests again on the current Node.js LTS (the `node@24` package from the npm
//      registry), since the worker model must hold on Node 20 and on 24 (skipped when arguments
//      choose the tests).
// Arguments go to vitest: `npm test -- test/limits` runs one folder after the same checks.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const vitestArgs = process.argv.slice(2);
const started = performance.now();
const secs = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const say = (s) => process.stdout.write(`${s}\n`);

/** Runs a command; its output is kept and shown only if it fails, so parallel jobs never interleave. */
function job(name, cmd, args) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => resolve({ name, ok: false, out: `${out}${err.message}\n`, took: secs(t0) }));
    child.on('close', (code) => resolve({ name, ok: code === 0, out, took: secs(t0) }));
  });
}

function inherit(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', () => resolve(1));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

say('[1/4] system programs: node scripts/test-env.mjs');
let t0 = performance.now();
if ((await inherit(process.execPath, ['scripts/test-env.mjs'])) !== 0) process.exit(1);
say(`      ready (${secs(t0)})`);

mkdirSync('.tmp', { recursive: true });
const tsc = 'node_modules/typescript/bin/tsc';
const checks = [
  ['build', process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck']],
  ['typecheck', process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit', '--incremental', '--tsBuildInfoFile', '.tmp/typecheck.tsbuildinfo']],
  ['lint', process.execPath, ['node_modules/eslint/bin/eslint.js', '.', '--cache', '--cache-location', '.tmp/eslintcache']],
];
say(`[2/4] ${checks.map(([n]) => n).join(', ')} in parallel:`);
for (const [name, , args] of checks) say(`      ${name}: ${args.join(' ')}`);
t0 = performance.now();
const results = await Promise.all(checks.map(([n, c, a]) => job(n, c, a)));
for (const r of results) {
  say(`      ${r.ok ? 'ok    ' : 'FAILED'} ${r.name} (${r.took})`);
  if (!r.ok) process.stdout.write(r.out.replace(/^/gm, `      ${r.name}| `) + '\n');
}
if (results.some((r) => !r.ok)) process.exit(1);

say(`[3/4] tests: vitest run ${vitestArgs.join(' ')}`.trimEnd());
let code = await inherit(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...vitestArgs]);
if (code === 0 && vitestArgs.length === 0) {
  say('[4/4] worker tests on Node.js 24: npm run test:workers:node24');
  t0 = performance.now();
  code = await inherit('npm', ['run', '--silent', 'test:workers:node24']);
  say(`      ${code === 0 ? 'passed' : 'FAILED'} (${secs(t0)})`);
}
say(`npm test: ${code === 0 ? 'passed' : 'FAILED'} in ${secs(started)}`);
process.exit(code);
