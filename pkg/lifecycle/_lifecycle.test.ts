import { describe, expect, test } from "bun:test";
import { manualDriver } from "./_driver.ts";
import { resolvePasswordRef } from "./_secret.ts";

const sources = {
  env: { BMC_PW: "s3cret", EMPTY: "" },
  readFile: (p: string) => {
    if (p === "/run/bmc.pw") return "from-file\n";
    throw Object.assign(new Error("nope"), { code: "ENOENT" });
  },
};

describe("password_ref", () => {
  test("env and file references resolve; one trailing newline is dropped", () => {
    expect(resolvePasswordRef("env:BMC_PW", sources)).toBe("s3cret");
    expect(resolvePasswordRef("file:/run/bmc.pw", sources)).toBe("from-file");
  });
  const refused: [string, string][] = [
    ["env:MISSING", "password_ref env:MISSING: the variable is not set"],
    ["env:EMPTY", "password_ref env:EMPTY: the secret is empty"],
    ["file:/nope", "password_ref file:/nope: cannot read the file (ENOENT)"],
    ["file:relative", "password_ref file:relative: want env:NAME or file:/absolute/path"],
    ["hunter2", "password_ref hunter2: want env:NAME or file:/absolute/path"],
  ];
  for (const [ref, message] of refused)
    test(`refuses ${ref}`, () =>
      expect(() => resolvePasswordRef(ref, sources)).toThrow(expect.objectContaining({ code: "SECRET_UNRESOLVED", message, exitCode: 2 })));
});

describe("manual driver", () => {
  test("every operation is an instruction for a person; the power state is unknown", async () => {
    const d = manualDriver("node-1");
    expect(await d.powerStatus()).toBe("unknown");
    expect(await d.power("cycle")).toEqual({ done: false, waitingFor: "person", instruction: "power-cycle node-1" });
    expect(await d.setBootDevice("pxe", { efi: true })).toEqual({
      done: false,
      waitingFor: "person",
      instruction: "set node-1 to boot from pxe (UEFI) once",
    });
  });
});
