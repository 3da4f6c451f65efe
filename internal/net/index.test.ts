import { describe, expect, test } from "bun:test";
import { inCidr, intToIpv4, ipv4ToInt, normalizeMac, parseCidr } from "./index.ts";

describe("normalizeMac", () => {
  const cases: [string, string | undefined][] = [
    ["52:54:00:ab:cd:ef", "52:54:00:ab:cd:ef"],
    ["52-54-00-AB-CD-EF", "52:54:00:ab:cd:ef"],
    ["525400ABCDEF", "52:54:00:ab:cd:ef"],
    ["52:54:00-ab:cd:ef", undefined],
    ["52:54:00:ab:cd", undefined],
    ["zz:54:00:ab:cd:ef", undefined],
    ["", undefined],
  ];
  for (const [input, want] of cases) test(JSON.stringify(input), () => expect(normalizeMac(input)).toBe(want));
});

describe("IPv4", () => {
  test("round trip", () => {
    for (const ip of ["0.0.0.0", "10.77.0.1", "255.255.255.255", "192.168.1.200"]) {
      expect(intToIpv4(ipv4ToInt(ip) ?? -1)).toBe(ip);
    }
  });
  test("malformed", () => {
    for (const ip of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "a.b.c.d", ""]) expect(ipv4ToInt(ip)).toBeUndefined();
  });
  test("cidr", () => {
    const c = parseCidr("10.77.0.0/24");
    expect(c).toEqual({ network: ipv4ToInt("10.77.0.0") ?? 0, prefix: 24, mask: 0xffffff00, hostBits: false });
    expect(parseCidr("10.77.0.1/24")?.hostBits).toBe(true);
    expect(parseCidr("0.0.0.0/0")?.mask).toBe(0);
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("10.0.0.0")).toBeUndefined();
    if (!c) throw new Error("no cidr");
    expect(inCidr(ipv4ToInt("10.77.0.9") ?? 0, c)).toBe(true);
    expect(inCidr(ipv4ToInt("10.78.0.9") ?? 0, c)).toBe(false);
  });
});
