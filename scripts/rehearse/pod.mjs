// A Kubernetes pod of the rendered Deployment, reproduced with plain processes: what `kubectl
// kustomize` renders, the gateway container's args and env, and its ConfigMap and Secret volumes
// written the way the kubelet writes them (a timestamped directory, a `..data` symlink to it, one
// symlink per entry, all swapped atomically on change). Used by `npm run rehearse:cluster` and by
// the deployment tests, so both run the manifests exactly as a cluster would.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KUSTOMIZE_DIR = join(ROOT, 'deploy', 'kubernetes');
export const OVERLAYS = ['base', 'overlays/redis', 'overlays/seed-scenario', 'overlays/prometheus-operator'];

/** Every object `kubectl kustomize` renders for `deploy/kubernetes/<which>`. */
export function render(which) {
  const text = execFileSync('kubectl', ['kustomize', join(KUSTOMIZE_DIR, which)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`kubectl kustomize ${which}: ${d.errors[0].message}`);
    return d.toJS();
  });
}

export function find(objects, kind, name) {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (o === undefined) throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} in the rendered objects`);
  return o;
}

/**
 * The gateway container of the Deployment `tollgate` with its volumes resolved to file contents:
 * `mounts` maps each mountPath to { readOnly, files } (files: relative path → content; undefined
 * for an emptyDir, which starts empty).
 */
export function gatewayPod(objects) {
  const dep = find(objects, 'Deployment', 'tollgate');
  const spec = dep.spec.template.spec;
  const container = spec.containers.find((c) => c.name === 'tollgate');
  if (container === undefined) throw new Error('the Deployment has no container named tollgate');
  const mounts = {};
  for (const m of container.volumeMounts ?? []) {
    const vol = spec.volumes.find((v) => v.name === m.name);
    mounts[m.mountPath] = { readOnly: m.readOnly === true, files: volumeFiles(objects, vol) };
  }
  const env = {};
  for (const e of container.env ?? []) {
    if (e.value === undefined) throw new Error(`env ${e.name}: only literal values are supported by the rehearsal`);
    env[e.name] = e.value;
  }
  return { deployment: dep, spec, container, args: container.args ?? [], env, mounts };
}

function volumeFiles(objects, vol) {
  if (vol.emptyDir !== undefined) return undefined;
  if (vol.configMap !== undefined) {
    const cm = find(objects, 'ConfigMap', vol.configMap.name);
    return project(cm.data ?? {}, vol.configMap.items, (v) => v);
  }
  if (vol.secret !== undefined) {
    const s = find(objects, 'Secret', vol.secret.secretName);
    return project(s.data ?? {}, vol.secret.items, (v) => Buffer.from(v, 'base64').toString('utf8'));
  }
  throw new Error(`volume ${vol.name}: only configMap, secret and emptyDir volumes are rehearsed`);
}

function project(data, items, decode) {
  const files = {};
  if (items === undefined) for (const [k, v] of Object.entries(data)) files[k] = decode(v);
  else
    for (const it of items) {
      if (!(it.key in data)) throw new Error(`volume item ${it.key} is not a key of its ConfigMap/Secret`);
      files[it.path] = decode(data[it.key]);
    }
  return files;
}

/**
 * Writes `files` into `dir` as the kubelet's atomic writer does, or swaps the whole content for a
 * new one in one rename if `dir` already holds a volume. Returns once the swap is visible.
 */
export function writeKubeletVolume(dir, files) {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${process.hrtime.bigint() % 1000000n}`;
  const data = join(dir, stamp);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(data, rel)), { recursive: true });
    writeFileSync(join(data, rel), content);
  }
  const old = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : undefined;
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  const top = new Set(Object.keys(files).map((rel) => rel.split('/')[0]));
  for (const name of top) if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  for (const name of readdirSync(dir)) if (!name.startsWith('..') && !top.has(name)) rmSync(join(dir, name));
  if (old !== undefined) rmSync(join(dir, old), { recursive: true, force: true });
}

/** The long flags (`--name`) a `tollgate … --help` text lists. */
export function helpFlags(help) {
  return new Set([...help.matchAll(/^\s+(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]));
}

/**
 * The container's args with the value of each flag in `values` replaced (listen addresses moved to
 * loopback ports, the Redis URL to a local Redis) and every mounted path moved to where the
 * rehearsal put it (`paths`: mountPath → host directory).
 */
export function remapArgs(args, { values, paths }) {
  return args.map((a, i) => {
    const prev = args[i - 1];
    if (prev !== undefined && prev in values) return values[prev];
    return remapPath(a, paths);
  });
}

function remapPath(value, paths) {
  for (const [mount, host] of Object.entries(paths)) {
    if (value === mount || value.startsWith(`${mount}/`)) return host + value.slice(mount.length);
  }
  return value;
}

/** The port number a container port name (or number) of the gateway container stands for. */
export function containerPort(container, port) {
  if (typeof port === 'number') return port;
  const p = (container.ports ?? []).find((x) => x.name === port);
  if (p === undefined) throw new Error(`the container has no port named ${port}`);
  return p.containerPort;
}

/** HOST:PORT → port, for the value after a flag in the args. */
export function flagPort(args, flag) {
  const i = args.indexOf(flag);
  if (i < 0 || args[i + 1] === undefined) throw new Error(`the Deployment's args have no ${flag}`);
  return Number(args[i + 1].slice(args[i + 1].lastIndexOf(':') + 1));
}

export function flagValue(args, flag) {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/**
 * The args without the flags this build of `tollgate serve` does not accept (`accepted`, from its
 * help), so a rehearsal of newer manifests on an older build runs and says what it left out.
 */
export function supportedArgs(args, accepted) {
  const kept = [];
  const dropped = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--') || accepted.has(a)) {
      kept.push(a);
      continue;
    }
    const takesValue = args[i + 1] !== undefined && !args[i + 1].startsWith('--');
    dropped.push(takesValue ? `${a} ${args[i + 1]}` : a);
    if (takesValue) i++;
  }
  return { args: kept, dropped };
}

/** The config's Backends pointed at one local address (the cluster's Services do not exist here). */
export function pointBackendsAt(files, host, port) {
  const out = {};
  for (const [name, text] of Object.entries(files)) {
    if (!/\.ya?ml$/.test(name)) {
      out[name] = text;
      continue;
    }
    const docs = parseAllDocuments(text);
    let changed = false;
    for (const d of docs) {
      if (d.get('kind') !== 'Backend') continue;
      d.setIn(['spec', 'endpoints'], d.createNode([{ ip: { address: host, port } }]));
      changed = true;
    }
    out[name] = changed ? docs.map((d) => d.toString()).join('') : text;
  }
  return out;
}

/**
 * Starts `command` (a gateway started with remapped args) and resolves with the ports it really
 * listens on, read from its start line; rejects with its output if it exits first. It runs in its
 * own process group: `kill()` ends all of it at once, as a container runtime kills a container.
 */
export function startGateway(command, { env = {}, cwd = ROOT, timeoutMs = 30_000 } = {}) {
  const [cmd, ...rest] = command;
  const child = spawn(cmd, rest, { cwd, env: { ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // Only while the leader lives: once it is reaped, its group id may be another program's.
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL');
  };
  let out = '';
  const exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })));
  const ready = new Promise((resolvePorts, reject) => {
    const t = setTimeout(() => reject(new Error(`the gateway did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d) => {
      out += d.toString();
      const m = /"msg":"tollgate serving".*?"listen":"[^"]*:(\d+)".*?"admin":"[^"]*:(\d+)"/.exec(out);
      if (m !== null) {
        clearTimeout(t);
        resolvePorts({ listen: Number(m[1]), admin: Number(m[2]) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(t);
      reject(new Error(`the gateway exited (${code ?? signal}) before serving:\n${out}`));
    });
  });
  return { child, ready, exited, kill, output: () => out };
}

/**
 * Writes the pod's volumes below `hostRoot` at their mount paths (ConfigMap and Secret volumes in
 * the kubelet's layout, the config's Backends pointed at `backend`; emptyDirs empty) and returns
 * mountPath → host directory.
 */
export function materializeVolumes(pod, hostRoot, backend) {
  const paths = {};
  for (const [mountPath, m] of Object.entries(pod.mounts)) {
    const host = join(hostRoot, mountPath);
    if (m.files === undefined) mkdirSync(host, { recursive: true });
    else writeKubeletVolume(host, backend === undefined ? m.files : pointBackendsAt(m.files, backend.host, backend.port));
    paths[mountPath] = host;
  }
  return paths;
}
