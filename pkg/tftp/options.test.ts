import { describe, expect, test } from "bun:test";
import { negotiate } from "./_options.ts";

const opts = (...pairs: [string, string][]) => pairs.map(([name, value]) => ({ name, value }));

const CASES: { name: string; options: [string, string][]; max?: number; want: ReturnType<typeof negotiate> }[] = [
  { name: "no options → defaults, no OACK", options: [], want: { blksize: 512, windowsize: 1, oack: [] } },
  {
    name: "blksize 1468 granted",
    options: [["blksize", "1468"]],
    want: { blksize: 1468, windowsize: 1, oack: opts(["blksize", "1468"]) },
  },
  { name: "blksize 7 is below RFC 2348's 8: ignored", options: [["blksize", "7"]], want: { blksize: 512, windowsize: 1, oack: [] } },
  { name: "blksize 8 is the minimum", options: [["blksize", "8"]], want: { blksize: 8, windowsize: 1, oack: opts(["blksize", "8"]) } },
  {
    name: "blksize 70000 clamped to 65464",
    options: [["blksize", "70000"]],
    want: { blksize: 65464, windowsize: 1, oack: opts(["blksize", "65464"]) },
  },
  {
    name: "blksize clamped to the server's maximum",
    options: [["blksize", "8192"]],
    max: 1428,
    want: { blksize: 1428, windowsize: 1, oack: opts(["blksize", "1428"]) },
  },
  {
    name: "tsize answered with the file size",
    options: [["tsize", "0"]],
    want: { blksize: 512, windowsize: 1, oack: opts(["tsize", "123456"]) },
  },
  {
    name: "timeout 3 accepted",
    options: [["timeout", "3"]],
    want: { blksize: 512, windowsize: 1, timeoutSeconds: 3, oack: opts(["timeout", "3"]) },
  },
  { name: "timeout 0 ignored", options: [["timeout", "0"]], want: { blksize: 512, windowsize: 1, oack: [] } },
  { name: "timeout 256 ignored", options: [["timeout", "256"]], want: { blksize: 512, windowsize: 1, oack: [] } },
  { name: "windowsize 0 ignored", options: [["windowsize", "0"]], want: { blksize: 512, windowsize: 1, oack: [] } },
  {
    name: "windowsize 4 granted",
    options: [["windowsize", "4"]],
    want: { blksize: 512, windowsize: 4, oack: opts(["windowsize", "4"]) },
  },
  {
    name: "windowsize 65535 clamped to 64",
    options: [["windowsize", "65535"]],
    want: { blksize: 512, windowsize: 64, oack: opts(["windowsize", "64"]) },
  },
  { name: "windowsize 65536 ignored", options: [["windowsize", "65536"]], want: { blksize: 512, windowsize: 1, oack: [] } },
  {
    name: "unknown options ignored",
    options: [
      ["multicast", ""],
      ["rollover", "0"],
    ],
    want: { blksize: 512, windowsize: 1, oack: [] },
  },
  {
    name: "upper-case names accepted, answered lower-case, in the client's order",
    options: [
      ["TSIZE", "0"],
      ["BlkSize", "1024"],
      ["windowSIZE", "16"],
    ],
    want: { blksize: 1024, windowsize: 16, oack: opts(["tsize", "123456"], ["blksize", "1024"], ["windowsize", "16"]) },
  },
];

describe("negotiate", () => {
  for (const c of CASES) {
    test(c.name, () => {
      expect(negotiate(opts(...c.options), { fileSize: 123456, maxBlksize: c.max ?? 65464 })).toEqual(c.want);
    });
  }
});
