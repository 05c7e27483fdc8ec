// `bench overhead --compare REF`: another commit's gateway, built once into .tmp/bench-ref/<commit>/
// (the tree from `git archive`, its dependencies, `npm run build`), so the benchmark runs it beside
// the current build in the same run. When the commit's package-lock.json is the current one, its
// node_modules is a link to the current folder's instead of a fresh install.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

export class RefBuildError extends Error {}

function run(cmd: string, args: string[], cwd: string, what: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, shell: false });
  if (r.status !== 0) throw new RefBuildError(`${what} failed (${cmd} ${args.join(' ')}): ${(r.stderr || r.stdout || String(r.error)).trim().slice(-2000)}`);
  return r.stdout;
}

/** The path of REF's `bin/tollgate.js`, building it first if this commit was not built before. */
export function buildRef(ref: string, repo = process.cwd()): { commit: string; bin: string } {
  const commit = run('git', ['rev-parse', '--verify', `${ref}^{commit}`], repo, `resolving ${ref}`).trim();
  const dir = resolve(repo, '.tmp', 'bench-ref', commit);
  const bin = join(dir, 'bin', 'tollgate.js');
  const done = join(dir, '.built');
  if (existsSync(done)) return { commit, bin };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`building ${ref} (${commit.slice(0, 12)}) into ${dir}\n`);
  run('sh', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], repo, 'extracting the commit');
  const lock = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');
  if (lock(join(dir, 'package-lock.json')) === lock(join(repo, 'package-lock.json')) && existsSync(join(repo, 'node_modules'))) {
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  } else {
    run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], dir, `installing ${ref}'s dependencies`);
  }
  run('npm', ['run', 'build'], dir, `building ${ref}`);
  run('sh', ['-c', 'date > .built'], dir, 'marking the build');
  return { commit, bin };
}
