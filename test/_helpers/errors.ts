/** Expectations about Vaquero's errors, shared by tests. */
import { expect } from "bun:test";
import { isVaqueroError, type VaqueroError } from "../../internal/errors/index.ts";

/** The error `p` rejects with, which must be a VaqueroError with `code`, exit code 2 and a one-line message. */
export async function exit2Failure(p: Promise<unknown>, code: string): Promise<VaqueroError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!isVaqueroError(e, code)) throw new Error(`want ${code}, got ${String(e)}`);
  expect(e.exitCode).toBe(2);
  expect(e.message).not.toContain("\n");
  return e;
}
