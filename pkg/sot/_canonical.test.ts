import { describe, expect, test } from "bun:test";
import { canonicalJson, sha256Hex } from "./_canonical.ts";

describe("canonicalJson (RFC 8785)", () => {
  test("sorts keys by UTF-16 code units at every level and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, e: undefined })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ "\u20ac": 1, "\r": 2, "1": 3, ö: 4 })).toBe('{"\\r":2,"1":3,"ö":4,"€":1}');
  });
  test("numbers and strings as ECMAScript serialises them", () => {
    expect(canonicalJson([1e21, 0.1, -0, 1e-7, 'a\u2028"\\'])).toBe('[1e+21,0.1,0,1e-7,"a\u2028\\"\\\\"]');
  });
  test("refuses what JSON cannot hold", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow("finite");
    expect(() => canonicalJson(() => 1)).toThrow("function");
  });
  test("same value, same hash, whatever the key order", () => {
    expect(sha256Hex(canonicalJson({ a: 1, b: 2 }))).toBe(sha256Hex(canonicalJson({ b: 2, a: 1 })));
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});
