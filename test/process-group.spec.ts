/**
 * ProcessGroup (test/process-group.ts): a spec's long-running child and everything it starts
 * end with the spec's process, however that process ends.
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "child_process";
import * as os from "os";
import * as path from "path";
import { groupMembers, ProcessGroup } from "./process-group";

const repo = path.resolve(__dirname, "..");
const holder = path.join(__dirname, "fixtures", "process-group-holder.ts");
// A shell and two grandchildren: signalling the shell's pid alone would leave the sleeps.
const TREE = ["-c", "sleep 300 & sleep 300 & wait"];

/** Safety net for conditions that hold within milliseconds on an idle machine. */
const CEILING_MS = 60_000;
async function eventually(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + CEILING_MS;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("ProcessGroup", () => {
  const started: number[] = [];
  const holders: ChildProcess[] = [];
  afterEach(() => {
    // Whatever a failed test left behind.
    for (const holder of holders.splice(0)) if (holder.exitCode === null) holder.kill("SIGKILL");
    for (const pgid of started.splice(0)) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  it("stops the leader and the processes it started", async () => {
    const group = new ProcessGroup("sh", TREE, { stdio: "ignore" });
    started.push(group.pgid);
    await eventually("the shell and both sleeps", () => group.members().length === 3);
    await group.stop("SIGTERM");
    expect(groupMembers(group.pgid)).to.deep.equal([]);
  });

  it("kills with SIGKILL what outlives the grace period", async () => {
    // SIGINT is ignored by the shell and inherited as ignored by its sleeps.
    const group = new ProcessGroup("sh", ["-c", `trap '' INT; ${TREE[1]}`], { stdio: "ignore" });
    started.push(group.pgid);
    await eventually("the shell and both sleeps", () => group.members().length === 3);
    await group.stop("SIGINT", 500);
    expect(groupMembers(group.pgid)).to.deep.equal([]);
  });

  /** Runs the holder, returns its group id and a promise of how it ended. */
  async function startHolder(mode: "wait" | "exit") {
    const child = spawn(process.execPath, ["-r", "ts-node/register", holder, mode], {
      cwd: repo,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    holders.push(child);
    const ended = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    await eventually("the holder's group id", () => out.includes("\n") || child.exitCode !== null);
    const pgid = Number(out.trim());
    expect(pgid, `holder output ${JSON.stringify(out)}`).to.be.greaterThan(0);
    started.push(pgid);
    return { child, pgid, ended };
  }

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`stops the group when the spec's process gets ${signal}, then exits with 128 + its number`, async () => {
      const { child, pgid, ended } = await startHolder("wait");
      expect(groupMembers(pgid)).to.have.length(3);
      child.kill(signal);
      const how = await ended;
      await eventually("the group to end", () => groupMembers(pgid).length === 0);
      expect(how).to.deep.equal({ code: 128 + os.constants.signals[signal], signal: null });
    });
  }

  it("stops the group when the spec's process exits without stopping it", async () => {
    const { pgid, ended } = await startHolder("exit");
    expect(await ended).to.deep.equal({ code: 3, signal: null });
    await eventually("the group to end", () => groupMembers(pgid).length === 0);
  });
});
