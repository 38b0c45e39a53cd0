/**
 * The GitHub workflows: actionlint passes, and the review workflows keep their security shape
 * (fork code never runs with secrets or write access).
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { expect } from "chai";
import * as yaml from "js-yaml";
import { ROOT } from "../scripts/plan/harness";

const WORKFLOWS = path.join(ROOT, ".github", "workflows");

/** actionlint from scripts/bootstrap's .tools/bin, else from PATH; undefined when absent. */
function findActionlint(): string | undefined {
  const local = path.join(ROOT, ".tools", "bin", "actionlint");
  if (fs.existsSync(local)) return local;
  const probe = spawnSync("actionlint", ["-version"], { encoding: "utf8" });
  return probe.status === 0 ? "actionlint" : undefined;
}

type Workflow = {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Record<string, unknown>>;
};
const load = (file: string) =>
  yaml.load(fs.readFileSync(path.join(WORKFLOWS, file), "utf8")) as Workflow;

describe("GitHub workflows", () => {
  it("pass actionlint", function () {
    const actionlint = findActionlint();
    if (!actionlint) {
      if (process.env.CI === "true") {
        throw new Error("actionlint not found in CI: scripts/bootstrap installs it (needs Go)");
      }
      // Not in CI: a machine without Go cannot build the linter; say so instead of failing.
      console.warn("    actionlint not found (scripts/bootstrap needs Go to build it); skipped");
      this.skip();
    }
    // Shell and Python linting off: the result must not depend on what else is installed.
    const run = spawnSync(actionlint, ["-shellcheck=", "-pyflakes=", "-no-color"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(run.status, `${run.stdout}${run.stderr}`).to.equal(0);
  });

  it("never run pull_request_target", () => {
    for (const file of fs.readdirSync(WORKFLOWS)) {
      expect(Object.keys(load(file).on), file).not.to.include("pull_request_target");
    }
  });

  it("review forks offline with a read-only token, and comment from workflow_run", () => {
    const plan = load("pr-plan.yml");
    expect(Object.keys(plan.on)).to.deep.equal(["pull_request"]);
    expect(plan.permissions).to.deep.equal({ contents: "read" });
    expect(fs.readFileSync(path.join(WORKFLOWS, "pr-plan.yml"), "utf8")).not.to.include("secrets.");
    const comment = load("pr-plan-comment.yml");
    expect(Object.keys(comment.on)).to.deep.equal(["workflow_run"]);
    expect(comment.permissions).to.deep.equal({ actions: "read", "pull-requests": "write" });
    expect(fs.readFileSync(path.join(WORKFLOWS, "pr-plan-comment.yml"), "utf8")).not.to.include(
      "actions/checkout",
    );
  });

  it("preview with cloud credentials only for branches of this repository", () => {
    const job = load("pr-preview.yml").jobs.preview;
    expect(job.if).to.equal("github.event.pull_request.head.repo.full_name == github.repository");
    expect(job.permissions).to.deep.equal({
      contents: "read",
      "id-token": "write",
      "pull-requests": "write",
    });
  });

  it("deploy prod after dev through the protected prod environment", () => {
    const jobs = load("deploy.yml").jobs;
    expect(jobs["deploy-prod"].needs).to.equal("deploy");
    expect(jobs["deploy-prod"].environment).to.equal("prod");
  });
});
