/**
 * The full test suite: type check, lint and format, the compiled binary, unit tests and integration tests.
 * Every step's output is shown; the last line counts passed and failed tests (each gate counts as one). A test
 * skipped because this machine lacks root or a tool is never counted as passed; under CI (`CI=true`), where
 * .ci/run installs everything, a skipped test counts as failed.
 *
 *   npm test              everything (what CI runs)
 *   npm test -- --quick   type check, lint and unit tests only
 */
export {};

const quick = process.argv.includes("--quick");
const ci = process.env.CI === "true";

interface Step {
  name: string;
  cmd: string[];
  /** Bun test output: count its pass/fail lines instead of counting the step as one. */
  counted?: boolean;
}

const bun = process.execPath;
const steps: Step[] = [
  { name: "typecheck", cmd: ["node_modules/.bin/tsc", "--noEmit", "-p", "."] },
  { name: "lint", cmd: ["node_modules/.bin/biome", "check", "."] },
  // Per-test deadlines from the command line: bunfig's [test] timeout is not applied to every file here.
  { name: "unit", cmd: [bun, "test", "--timeout", "60000", "./pkg", "./internal", "./cmd"], counted: true },
];
if (!quick) {
  steps.push({ name: "build", cmd: [bun, "run", "build"] });
  steps.push({ name: "integration", cmd: [bun, "test", "--timeout", "300000", "./test"], counted: true });
}

let passed = 0;
let failed = 0;
const failures: string[] = [];
for (const step of steps) {
  process.stdout.write(`\n=== ${step.name}: ${step.cmd.join(" ")}\n`);
  const t0 = performance.now();
  const proc = Bun.spawn(step.cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, FORCE_COLOR: "0" } });
  const decoder = new TextDecoder();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream): Promise<void> => {
    for await (const chunk of stream) {
      const s = decoder.decode(chunk, { stream: true });
      text += s;
      out.write(s);
    }
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  const code = await proc.exited;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (step.counted) {
    const p = Number(/^\s*(\d+) pass$/m.exec(text)?.[1] ?? 0);
    const skipped = Number(/^\s*(\d+) skip$/m.exec(text)?.[1] ?? 0);
    const f = Number(/^\s*(\d+) fail$/m.exec(text)?.[1] ?? 0) + (ci ? skipped : 0);
    passed += p;
    failed += f;
    if (skipped && ci) failures.push(`${step.name} (${skipped} skipped: under CI every test must run)`);
    if (code !== 0 && f === 0) {
      failed += 1;
      failures.push(`${step.name} (exit ${code}, no test counted)`);
    } else if (f > 0) failures.push(`${step.name} (${f} failed)`);
    process.stdout.write(`=== ${step.name}: ${p} passed, ${f} failed${skipped ? `, ${skipped} skipped` : ""} in ${secs}s\n`);
  } else if (code === 0) {
    passed += 1;
    process.stdout.write(`=== ${step.name}: ok in ${secs}s\n`);
  } else {
    failed += 1;
    failures.push(`${step.name} (exit ${code})`);
    process.stdout.write(`=== ${step.name}: FAILED (exit ${code}) in ${secs}s\n`);
  }
}
if (failures.length) process.stdout.write(`\nfailed: ${failures.join(", ")}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
