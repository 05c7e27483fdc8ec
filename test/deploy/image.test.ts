// The container image without a container engine: its file system is rebuilt from the Dockerfile's
// own steps (`npm pack`, the packed package installed with `npm ci --omit=dev` into a clean
// /opt/tollgate, tini, Node 24 from the npm registry at /usr/local/bin/node), then the Deployment's
// gateway container runs in it as the image's non-root user, in a mount namespace where the whole
// tree is read-only except /var/lib/tollgate, with the config and secrets volumes written the way
// the kubelet writes them. It must serve, hot-reload a ConfigMap swap and drain on SIGTERM.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { eventually } from '../helpers/gateway.js';
import { gatewayPod, materializeVolumes, pointBackendsAt, remapArgs, render, startGateway, supportedArgs, writeKubeletVolume, type StartedGateway } from '../../scripts/rehearse/pod.mjs';
import { backendKey, chat, serveFlags, startSim, type Sim } from './helpers.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const [uid, gid] = /^USER (\d+):(\d+)$/m.exec(dockerfile)!.slice(1).map(Number) as [number, number];
/** The image's ENV, as the Dockerfile sets it. */
const dockerEnv: Record<string, string> = Object.fromEntries(
  [...(/^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1] ?? '').matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]),
);
const isRoot = process.getuid?.() === 0;

/** Node 24's binary from the npm registry, installed once into node_modules/.cache. */
function node24(): string {
  const pkg = `node-linux-${process.arch}`;
  const cache = join(ROOT, 'node_modules', '.cache', 'tollgate-node24');
  const bin = join(cache, 'node_modules', pkg, 'bin', 'node');
  // `npm install node@24` runs an install script that fetches this same package; install it directly.
  if (!existsSync(bin)) execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', cache, `${pkg}@24`], { stdio: 'ignore' });
  return bin;
}

/** A shell script, run as root in a new mount namespace, that assembles the image's root and then runs `command` in it. */
function sandbox(root: string, node: string, command: string[]): string[] {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    'set -e',
    `R=${q(root)}`,
    // the image's tree, read-only, except the ledger volume
    'mount --bind "$R" "$R"',
    'mount --bind "$R/var/lib/tollgate" "$R/var/lib/tollgate"',
    'mount -o remount,bind,ro "$R"',
    // the base image's system: /usr (libc, tini, env, setpriv) read-only, /usr/local from the image
    'mount --rbind /usr "$R/usr" && mount -o remount,bind,ro "$R/usr"',
    'mount -t tmpfs -o mode=0755 tmpfs "$R/usr/local"',
    'mkdir -p "$R/usr/local/bin" && touch "$R/usr/local/bin/node"',
    `mount --bind ${q(node)} "$R/usr/local/bin/node"`,
    'ln -s /opt/tollgate/bin/tollgate.js "$R/usr/local/bin/tollgate"',
    'mount -o remount,ro "$R/usr/local"',
    'for d in dev proc sys; do mount --rbind "/$d" "$R/$d"; done',
    `exec chroot "$R" /usr/bin/env -i ${Object.entries(imageEnv()).map(([k, v]) => q(`${k}=${v}`)).join(' ')} /usr/bin/setpriv --reuid=${uid} --regid=${gid} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- ${command.map(q).join(' ')}`,
  ].join('\n');
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script];
}

/** The environment of the image's processes: the Dockerfile's ENV on the base image's PATH and HOME. */
const imageEnv = (): Record<string, string> => ({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/', ...dockerEnv });
/** The root-side tools (unshare, mount, chroot) are found on the host's PATH. */
const hostEnv = (): Record<string, string> => ({ PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' });

// Needs root for the mount namespace, chroot and setpriv; the suite runs as root here and in CI.
describe.skipIf(!isRoot)('the container image (its file system rebuilt from the Dockerfile steps; run as root)', () => {
  const objects = render('base');
  const pod = gatewayPod(objects);
  let root: string;
  let node: string;
  let sim: Sim;
  let gw: StartedGateway;
  let url: string;
  let adminUrl: string;

  beforeAll(async () => {
    node = node24();
    root = mkdtempSync(join(tmpdir(), 'tollgate-image-'));
    execFileSync('chmod', ['0755', root]);
    // npm test builds dist/ first; the Dockerfile's `npm pack` runs the same build through `prepare`.
    const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', root], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
    const app = join(root, 'opt', 'tollgate');
    mkdirSync(app, { recursive: true });
    execFileSync('tar', ['-xzf', join(root, tgz), '--strip-components=1', '-C', app]);
    rmSync(join(root, tgz));
    execFileSync('cp', [join(ROOT, 'package-lock.json'), app]);
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'ignore' });
    for (const d of ['usr', 'dev', 'proc', 'sys', 'etc/tollgate/config', 'etc/tollgate/secrets', 'var/lib/tollgate']) mkdirSync(join(root, d), { recursive: true });
    symlinkSync('usr/bin', join(root, 'bin'));
    symlinkSync('usr/lib', join(root, 'lib'));
    if (existsSync('/lib64')) symlinkSync('usr/lib64', join(root, 'lib64'));
    sim = await startSim(backendKey(objects));
    materializeVolumes(pod, root, { host: '127.0.0.1', port: sim.port });
    chownSync(join(root, 'var/lib/tollgate'), uid, gid);

    const { args } = supportedArgs(pod.args, await serveFlags());
    const serve = remapArgs(args, { values: { '--listen': '127.0.0.1:0', '--admin': '127.0.0.1:0' }, paths: {} });
    gw = startGateway(sandbox(root, node, ['/usr/bin/tini', '--', 'tollgate', ...serve]), { env: hostEnv(), cwd: '/' });
    const ports = await gw.ready;
    url = `http://127.0.0.1:${ports.listen}`;
    adminUrl = `http://127.0.0.1:${ports.admin}`;
  }, 180_000);

  afterAll(async () => {
    gw?.kill();
    await sim?.stop();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it('holds only the production dependencies of the packed package', () => {
    const app = join(root, 'opt', 'tollgate');
    expect(readdirSync(app).sort()).toEqual(expect.arrayContaining(['bin', 'dist', 'node_modules', 'package.json']));
    expect(existsSync(join(app, 'src'))).toBe(false);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);
    for (const dev of Object.keys(pkg.devDependencies)) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
  });

  it('runs on Node 24 as the image user under tini, and serves', async () => {
    const tini = gw.child.pid!;
    const children = readFileSync(`/proc/${tini}/task/${tini}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(readFileSync(`/proc/${tini}/comm`, 'utf8').trim()).toBe('tini');
    const gateway = children[0]!;
    const status = readFileSync(`/proc/${gateway}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' });
    expect(version).toMatch(/^v24\./);
    expect(readFileSync(`/proc/${gateway}/cmdline`, 'utf8').split('\0')[1]).toBe('/usr/local/bin/tollgate');
    const r = await chat(url, { 'x-tenant-id': 'image' });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBeGreaterThan(0);
  });

  it('can write only to /var/lib/tollgate, where the ledger is', async () => {
    const probe = `
      const fs = require('node:fs');
      const out = {};
      for (const d of ['/', '/opt/tollgate', '/etc/tollgate/config', '/etc/tollgate/secrets', '/usr/local/bin', '/tmp', '/var/lib/tollgate']) {
        try { fs.writeFileSync(d + '/.probe', 'x'); fs.unlinkSync(d + '/.probe'); out[d] = 'written'; } catch (e) { out[d] = e.code; }
      }
      process.stdout.write(JSON.stringify(out));`;
    const cmd = sandbox(root, node, ['/usr/local/bin/node', '-e', probe]);
    const result = JSON.parse(execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env: hostEnv() })) as Record<string, string>;
    expect(result).toEqual({
      '/': 'EROFS',
      '/opt/tollgate': 'EROFS',
      '/etc/tollgate/config': 'EROFS',
      '/etc/tollgate/secrets': 'EROFS',
      '/usr/local/bin': 'EROFS',
      '/tmp': 'ENOENT',
      '/var/lib/tollgate': 'written',
    });
    await eventually(() => existsSync(join(root, 'var/lib/tollgate/ledger')) && readdirSync(join(root, 'var/lib/tollgate/ledger')).length > 0, 'a ledger file');
  });

  it('hot-reloads a ConfigMap update (the kubelet’s ..data swap)', async () => {
    const configDir = join(root, 'etc/tollgate/config');
    const files = pointBackendsAt(pod.mounts['/etc/tollgate/config']!.files!, '127.0.0.1', sim.port);
    const tightened = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.replace('requests: 100', 'requests: 1')]));
    expect(tightened).not.toEqual(files);
    const before = ((await (await fetch(`${adminUrl}/config_dump`)).json()) as { generation: number }).generation;
    writeKubeletVolume(configDir, tightened);
    await eventually(async () => ((await (await fetch(`${adminUrl}/config_dump`)).json()) as { generation: number }).generation > before, 'the new config generation', 15_000);
    expect((await chat(url, { 'x-tenant-id': 'reloaded' })).status).toBe(200);
    expect((await chat(url, { 'x-tenant-id': 'reloaded' })).status).toBe(429);
  });

  it('drains on SIGTERM: the request in flight finishes, then the gateway exits 0', async () => {
    const slow = chat(url, { 'x-tenant-id': 'drain', 'x-sim-fault': 'slow-first-byte=1500' });
    await eventually(async () => /^tollgate_requests_in_flight 1$/m.test(await (await fetch(`${adminUrl}/metrics`)).text()), 'the slow request in flight');
    gw.child.kill('SIGTERM');
    const r = await slow;
    expect(r.status).toBe(200);
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    expect(gw.output()).toMatch(/"msg":"stopped"/);
  });
});
