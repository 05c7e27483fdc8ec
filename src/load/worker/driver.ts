// The load driver of one worker: its share of users (users mode) or of each profile's session
// arrivals (rate mode), the turn loop of every session (send, wait for the response, think, send
// the next), and the measurements, reported to the main thread in batches. Transport-agnostic: a
// worker thread runs it (worker/entry.ts) and so can the main thread (workers: 0).
import type { ReplaySession } from '../../workload/reader.js';
import { makeGapProcess, type GapProcess } from '../arrivals/process.js';
import { subSeed } from '../arrivals/random.js';
import type { FromWorker, ToWorker, WorkerInit, WorkerProfile } from '../protocol.js';
import { HttpTarget } from './http.js';
import { Recorder } from './recorder.js';
import { openProfiles, type ProfileSessions } from './sessions.js';
import { TimerHeap, type TimerEvent } from './timers.js';

type Post = (msg: FromWorker, transfer?: ArrayBuffer[]) => void;

interface ProfileRt {
  readonly idx: number;
  readonly spec: WorkerProfile;
  readonly sessions: ProfileSessions | undefined;
  readonly users: User[];
  /** Rate mode: this worker's sessions/s; the stream's process and next arrival. */
  rate: number;
  stream: GapProcess | undefined;
  nextArrival: TimerEvent | undefined;
  /** Replay: when its recorded time zero happens (monotonic ms). */
  replayZero: number | undefined;
  userSeq: number;
}

/** One session being replayed: its turns, sent one after another with their think times. */
interface Run {
  readonly session: ReplaySession;
  readonly profile: ProfileRt;
  turn: number;
  timer: TimerEvent | undefined;
  inflight: boolean;
  /** Users mode: the user running it. */
  user: User | undefined;
  /** Called when the session is over (all turns, an error with on_error=end_session, or stopped). */
  readonly end: () => void;
}

interface User {
  readonly id: number;
  readonly gap: GapProcess;
  retiring: boolean;
  gone: boolean;
  run: Run | undefined;
  timer: TimerEvent | undefined;
}


export class Driver {
  private readonly timers = new TimerHeap();
  private readonly profiles: ProfileRt[] = [];
  private http!: HttpTarget;
  private step = 0;
  private stopping = false;
  private readonly perfOrigin: number;
  private readonly runs = new Set<Run>();
  private readonly rec: Recorder;
  private sessionsStarted = 0;
  private sessionsCompleted = 0;
  private starved = 0;
  private reportTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly init: WorkerInit,
    private readonly post: Post,
  ) {
    // Epoch ms → this thread's monotonic clock (every thread's performance.timeOrigin differs).
    this.perfOrigin = init.origin - performance.timeOrigin;
    this.rec = new Recorder(init.slo);
  }

  static async start(init: WorkerInit, post: Post): Promise<Driver> {
    const d = new Driver(init, post);
    await d.open();
    return d;
  }

  private async open(): Promise<void> {
    const { init } = this;
    const corpusReplay = new Set(init.profiles.filter((p) => p.arrival.kind === 'replay' && p.arrival.source === 'corpus').map((p) => p.name));
    // Corpus replay is exact only when one reader owns the stream's recorded times: worker 0.
    const mine = init.profiles.filter((p) => !(corpusReplay.has(p.name) && init.index !== 0)).map((p) => p.name);
    const opened = openProfiles(init.corpus, mine, init.shard, init.index, init.workers, subSeed(init.seed, 'sessions'), corpusReplay);
    init.profiles.forEach((spec, idx) => {
      this.profiles.push({ idx, spec, sessions: opened.get(spec.name), users: [], rate: 0, stream: undefined, nextArrival: undefined, replayZero: undefined, userSeq: 0 });
    });
    await Promise.all([...opened.values()].map((s) => s.ready()));
    for (const s of opened.values()) if (s.error !== undefined) throw s.error;
    this.http = new HttpTarget(init.target, init.headers, init.timeoutMs, init.idleTimeoutMs);
    this.reportTimer = setInterval(() => this.report(false), init.reportMs);
    this.sweepTimer = setInterval(() => this.http.sweep(performance.now()), 1000);
    const profiles: Record<string, { sessions: number; streams: number; shared: boolean }> = {};
    for (const [name, s] of opened) profiles[name] = { sessions: s.sessions, streams: 1, shared: s.shared };
    this.post({ type: 'ready', worker: init.index, profiles });
  }

  handle(msg: ToWorker): void {
    switch (msg.type) {
      case 'init':
        return;
      case 'level': {
        const due = msg.at - performance.timeOrigin;
        this.timers.at(due, () => this.applyLevels(msg.step, msg.levels));
        return;
      }
      case 'stop':
        void this.stop(msg.graceMs);
        return;
      default: {
        const never: never = msg;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  }

  // ---- time -------------------------------------------------------------------------------

  /** Seconds since the run's origin, the arrival processes' clock. */
  private runSeconds(perf = performance.now()): number {
    return (perf - this.perfOrigin) / 1000;
  }

  private perfAt(runSeconds: number): number {
    return this.perfOrigin + runSeconds * 1000;
  }

  // ---- load levels ------------------------------------------------------------------------

  private applyLevels(step: number, levels: Readonly<Record<string, number>>): void {
    if (this.stopping) return;
    this.step = step;
    for (const p of this.profiles) {
      const level = levels[p.spec.name] ?? 0;
      if (this.init.mode === 'users') this.setUsers(p, Math.round(level));
      else this.setRate(p, level);
    }
  }

  private setUsers(p: ProfileRt, n: number): void {
    const alive = p.users.filter((u) => !u.retiring && !u.gone);
    for (let i = alive.length; i < n; i++) {
      const user: User = { id: p.userSeq++, gap: makeGapProcess(p.spec.arrival, this.init.seed, p.spec.name, `w${this.init.index}u${p.userSeq}`), retiring: false, gone: false, run: undefined, timer: undefined };
      p.users.push(user);
      this.scheduleSession(p, user);
    }
    // Retire the newest users first; a user in the middle of a request finishes it.
    for (let i = alive.length - 1; i >= n; i--) {
      const u = alive[i] as User;
      u.retiring = true;
      if (u.run === undefined || !u.run.inflight) this.retire(p, u);
    }
  }

  private retire(p: ProfileRt, u: User): void {
    u.gone = true;
    this.timers.cancel(u.timer);
    if (u.run !== undefined) {
      this.timers.cancel(u.run.timer);
      this.runs.delete(u.run);
      u.run = undefined;
    }
    const i = p.users.indexOf(u);
    if (i >= 0) p.users.splice(i, 1);
  }

  private scheduleSession(p: ProfileRt, u: User): void {
    if (this.stopping || u.gone) return;
    const now = performance.now();
    const at = u.gap.next(this.runSeconds(now), p.spec.gap_s);
    const due = this.perfAt(at);
    u.timer = this.timers.at(due, () => {
      u.timer = undefined;
      this.startUserSession(p, u, due);
    });
  }

  /**
   * Hands the next session to `start`, now or as soon as the reader has one; either way the
   * schedule lag counts from `due`, so a reader that falls behind shows up as lag.
   */
  private withSession(p: ProfileRt, due: number, start: (s: ReplaySession) => void): void {
    const sessions = p.sessions;
    if (sessions === undefined) {
      this.starved++;
      return;
    }
    const go = (s: ReplaySession): void => {
      if (this.stopping) return;
      this.rec.lag(this.step, Math.max(0, performance.now() - due));
      start(s);
    };
    const s = sessions.take();
    if (s !== undefined) {
      go(s);
      return;
    }
    this.starved++;
    sessions.wait(go);
  }

  private startUserSession(p: ProfileRt, u: User, due: number): void {
    if (this.stopping || u.gone) return;
    this.withSession(p, due, (session) => {
      if (u.gone) return;
      this.userSession(p, u, session);
    });
  }

  private userSession(p: ProfileRt, u: User, session: ReplaySession): void {
    u.run = this.startRun(
      p,
      session,
      () => {
        u.run = undefined;
        if (u.retiring) this.retire(p, u);
        else this.scheduleSession(p, u);
      },
      u,
    );
  }

  private setRate(p: ProfileRt, rate: number): void {
    const changed = rate !== p.rate;
    p.rate = rate;
    if (p.spec.arrival.kind === 'replay') {
      if (rate > 0 && p.replayZero === undefined) {
        p.replayZero = performance.now();
        this.scheduleReplay(p);
      }
      return;
    }
    if (!changed && p.nextArrival !== undefined) return;
    this.timers.cancel(p.nextArrival);
    p.nextArrival = undefined;
    p.stream ??= makeGapProcess(p.spec.arrival, this.init.seed, p.spec.name, `w${this.init.index}`);
    if (rate > 0) this.scheduleArrival(p, this.runSeconds());
  }

  private scheduleArrival(p: ProfileRt, from: number): void {
    if (this.stopping || p.rate <= 0 || p.stream === undefined) return;
    const at = p.stream.next(from, 1 / p.rate);
    if (!Number.isFinite(at)) return;
    const due = this.perfAt(at);
    p.nextArrival = this.timers.at(due, () => {
      p.nextArrival = undefined;
      // The next arrival counts from this one's due time, not from when it fired: lateness must
      // not thin out the offered load.
      this.scheduleArrival(p, at);
      this.startOpenSession(p, due);
    });
  }

  private scheduleReplay(p: ProfileRt): void {
    if (this.stopping || p.replayZero === undefined) return;
    const spec = p.spec.arrival;
    if (spec.kind !== 'replay') return;
    if (spec.source === 'file') {
      p.stream ??= makeGapProcess(spec, this.init.seed, p.spec.name, `w${this.init.index}`, p.spec.replayTimes);
      const at = p.stream.next(0, 0);
      if (!Number.isFinite(at)) return;
      const due = p.replayZero + at * 1000;
      p.nextArrival = this.timers.at(due, () => {
        this.scheduleReplay(p);
        this.startOpenSession(p, due);
      });
      return;
    }
    // Corpus replay: each session at its own recorded offset.
    const session = p.sessions?.take();
    if (session === undefined) {
      if (p.sessions !== undefined && !p.sessions.exhausted) p.nextArrival = this.timers.at(performance.now() + 10, () => this.scheduleReplay(p));
      return;
    }
    const atMs = session.turns[0]?.meta.at_ms ?? 0;
    p.nextArrival = this.timers.at(p.replayZero + atMs / spec.speed, (lag) => {
      this.rec.lag(this.step, lag);
      this.startRun(p, session, () => undefined);
      this.scheduleReplay(p);
    });
  }

  private startOpenSession(p: ProfileRt, due: number): void {
    if (this.stopping) return;
    this.withSession(p, due, (session) => this.startRun(p, session, () => undefined));
  }

  // ---- sessions and requests --------------------------------------------------------------

  private startRun(p: ProfileRt, session: ReplaySession, end: () => void, user?: User): Run {
    this.sessionsStarted++;
    const run: Run = {
      session,
      profile: p,
      turn: 0,
      timer: undefined,
      inflight: false,
      user,
      end: () => {
        this.runs.delete(run);
        this.sessionsCompleted++;
        end();
      },
    };
    this.runs.add(run);
    this.sendTurn(run);
    return run;
  }

  private sendTurn(run: Run): void {
    if (this.stopping) return;
    const t = run.session.turns[run.turn];
    if (t === undefined) {
      run.end();
      return;
    }
    run.inflight = true;
    const step = this.step;
    const p = run.profile;
    this.http.send(
      { path: t.meta.path, app: run.session.app, body: t.body, stream: t.meta.stream },
      {
        firstToken: (ttft) => this.rec.firstToken(p.idx, step, ttft),
        gap: (ms) => this.rec.gap(p.idx, step, ms),
      },
      (o) => {
        run.inflight = false;
        this.rec.completed(p.idx, step, o, run.session.app);
        if (this.stopping) return;
        const user = run.user;
        if (user?.retiring === true) {
          this.retire(p, user);
          return;
        }
        if (o.error !== undefined && this.init.onError === 'end_session') {
          run.end();
          return;
        }
        run.turn++;
        const next = run.session.turns[run.turn];
        if (next === undefined) {
          run.end();
          return;
        }
        if (next.meta.think_ms <= 0) {
          this.sendTurn(run);
          return;
        }
        // Think time counts from the end of the response (the envelope's definition), on the absolute clock.
        run.timer = this.timers.at(performance.now() + next.meta.think_ms, (lag) => {
          run.timer = undefined;
          this.rec.lag(this.step, lag);
          this.sendTurn(run);
        });
      },
    );
  }

  private report(final: boolean): void {
    const m = this.rec.take();
    let users = 0;
    const wraps: Record<string, number> = {};
    for (const p of this.profiles) {
      users += p.users.length;
      if (p.sessions !== undefined) wraps[p.spec.name] = p.sessions.wraps;
    }
    this.post(
      {
        type: 'report',
        worker: this.init.index,
        at: performance.timeOrigin + performance.now(),
        ...m,
        gauges: { users, sessions: this.runs.size, inflight: this.http.inflight.size, sessionsStarted: this.sessionsStarted, sessionsCompleted: this.sessionsCompleted, starved: this.starved, wraps },
        final,
      },
      [m.done.buffer, m.first.buffer],
    );
  }

  private async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.stop();
    if (graceMs > 0 && this.http.inflight.size > 0) {
      const end = performance.now() + graceMs;
      while (this.http.inflight.size > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    }
    this.http.cancelAll();
    if (this.reportTimer !== undefined) clearInterval(this.reportTimer);
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    // Cancellations are delivered asynchronously; give them a turn before the final report.
    await new Promise((r) => setImmediate(r));
    this.report(true);
    await this.http.close();
  }
}
