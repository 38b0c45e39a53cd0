/**
 * A long-running child of a spec (the live run: Python, and the Spark JVM under it) started as
 * the leader of its own process group, and stopped together with everything it started on every
 * way the spec's process can end: the spec's `after` hook, a normal `process.exit`, or SIGINT /
 * SIGTERM / SIGHUP sent to mocha. Signalling only the child's pid would leave its own children
 * (the JVM) running, and a signal that kills mocha runs no `after` hook and no `exit` listener.
 *
 * Linux only: group membership is read from /proc (a zombie no longer counts as a member).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "child_process";
import * as fs from "fs";
import * as os from "os";

/** Signals on which the spec's process stops the group and then exits as the signal asks. */
const FATAL_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Pids of the live (not zombie) processes whose process group is `pgid`, from /proc. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited since the listing
    }
    // `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") members.push(Number(entry));
  }
  return members;
}

/** Resolves once no live process is left in the group, or with false after `ceilingMs`. */
async function groupGone(pgid: number, ceilingMs: number): Promise<boolean> {
  const deadline = Date.now() + ceilingMs;
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

export class ProcessGroup {
  /** The group's leader; its pid is the group id. */
  readonly child: ChildProcess;
  /** Process group id (= the leader's pid). */
  readonly pgid: number;
  private readonly onExit = () => this.signal("SIGKILL");
  private readonly onSignal = (signal: NodeJS.Signals) => {
    // Synchronous: the process is about to end, nothing asynchronous would run.
    this.signal("SIGKILL");
    this.removeListeners();
    process.exit(128 + os.constants.signals[signal]);
  };

  /**
   * Starts `command` as the leader of a new process group (`detached`: the child calls setsid()),
   * so the group holds it and every process it starts, unless one of them starts its own group.
   *
   * @throws Error naming the command when it cannot be started (no pid).
   */
  constructor(command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.child = spawn(command, args, { ...options, detached: true });
    if (this.child.pid === undefined) {
      this.child.on("error", () => undefined); // reported by the throw below
      throw new Error(`could not start ${command} ${args.join(" ")}`);
    }
    this.pgid = this.child.pid;
    process.on("exit", this.onExit);
    for (const signal of FATAL_SIGNALS) process.once(signal, this.onSignal);
  }

  /** Sends `signal` to every process of the group; false when the group no longer exists. */
  signal(signal: NodeJS.Signals): boolean {
    try {
      process.kill(-this.pgid, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
      throw err;
    }
  }

  /** Pids of the group's live processes. */
  members(): number[] {
    return groupMembers(this.pgid);
  }

  /**
   * Stops the group: sends `signal` (default SIGINT, the live run's graceful stop), waits up to
   * `graceMs` for every member to exit, then sends SIGKILL to whatever is left and waits for it.
   *
   * @throws Error listing the pids still alive 30 s after SIGKILL (only on an unkillable process).
   */
  async stop(signal: NodeJS.Signals = "SIGINT", graceMs = 60_000): Promise<void> {
    try {
      if (this.signal(signal) && !(await groupGone(this.pgid, graceMs))) {
        this.signal("SIGKILL");
        if (!(await groupGone(this.pgid, 30_000))) {
          throw new Error(
            `process group ${this.pgid} survived SIGKILL: ${this.members().join(", ")}`,
          );
        }
      }
    } finally {
      this.removeListeners();
    }
  }

  private removeListeners(): void {
    process.off("exit", this.onExit);
    for (const signal of FATAL_SIGNALS) process.off(signal, this.onSignal);
  }
}
