import { describe, expect, test } from "bun:test";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree, createRenderer } from "../sot/index.ts";
import { bootFor, exitScript, firstContactScript, unknownMachineScript } from "./index.ts";

async function site() {
  const r = await compileTree(memTree(baseSot()));
  expect(r.findings).toEqual([]);
  const s = r.sites.get("s1");
  if (!s) throw new Error("no site s1");
  return s.bundle;
}

describe("iPXE scripts", () => {
  test("first contact chains with MAC, UUID and architecture", () => {
    expect(firstContactScript("http://10.0.0.2:8080")).toBe(
      "#!ipxe\nchain http://10.0.0.2:8080/boot.ipxe?mac=${mac:hexhyp}&uuid=${uuid}&arch=${buildarch}\n",
    );
  });

  test("a host's script: kernel with the whole command line, initrd under /assets, boot", async () => {
    const bundle = await site();
    const served = bootFor(bundle, createRenderer(bundle), "52:54:00:00:00:01");
    if ("code" in served) throw new Error(served.code);
    expect(served.script).toBe(
      [
        "#!ipxe",
        "kernel https://stable.release.flatcar-linux.net/amd64-usr/4081.2.0/flatcar_production_pxe.vmlinuz flatcar.first_boot=1 " +
          "ignition.config.url=http://10.0.0.2:8080/config/52:54:00:00:00:01?boot=install console=ttyS0,115200n8 console=tty0 " +
          "flatcar.autologin vaquero.stage=install initrd=flatcar_production_pxe_image.cpio.gz",
        "initrd http://10.0.0.2:8080/assets/flatcar/4081.2.0/flatcar_production_pxe_image.cpio.gz",
        "boot",
        "",
      ].join("\n"),
    );
    expect(served.config).toEqual({
      type: "ignition",
      contentType: "application/vnd.coreos.ignition+json",
      body: JSON.stringify({
        ignition: { version: "3.3.0" },
        passwd: { users: [{ name: "core", sshAuthorizedKeys: ["ssh-ed25519 AAAA ops@example.com"] }] },
        storage: { files: [{ path: "/etc/hostname", mode: 420, contents: { source: "data:,node-1" } }] },
      }),
    });
  });

  test("unknown MAC and unknown boot are told apart", async () => {
    const bundle = await site();
    const r = createRenderer(bundle);
    expect(bootFor(bundle, r, "52:54:00:00:00:99")).toEqual({ code: "UNKNOWN_MAC" });
    expect(bootFor(bundle, r, "52:54:00:00:00:01", "nope")).toEqual({ code: "UNKNOWN_BOOT", boots: ["install"] });
  });

  test("unknown machines retry; provisioned ones exit to disk; text is sanitised", () => {
    expect(unknownMachineScript("http://a:8080", "52:54:00:00:00:99", "s1")).toBe(
      "#!ipxe\necho Vaquero: MAC 52:54:00:00:00:99 is not a host of site s1; retrying in 30s\nsleep 30\n" +
        "chain http://a:8080/boot.ipxe?mac=${mac:hexhyp}&uuid=${uuid}&arch=${buildarch}\n",
    );
    expect(exitScript("provisioned ${x}\n")).toBe("#!ipxe\necho Vaquero: provisioned {x}?; booting from local disk\nexit\n");
  });
});
