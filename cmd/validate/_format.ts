/** Output formats of `vaquero validate`: text for people, JSON for tools, GitHub workflow annotations. */
import type { CompileResult, Finding } from "../../pkg/sot/index.ts";

/** Text grouped by file, a summary line last; ANSI colour when `color`. */
export function formatText(result: CompileResult, location: string, color: boolean): string {
  const c = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const lines: string[] = [];
  let file = "";
  for (const f of result.findings) {
    if (f.file !== file) {
      if (file) lines.push("");
      file = f.file;
      lines.push(c("1;4", f.file));
    }
    const sev = f.severity === "error" ? c("31", "error  ") : c("33", "warning");
    lines.push(`  ${`${f.line}:${f.column}`.padEnd(8)} ${sev} ${c("2", f.code.padEnd(26))} ${f.message}`);
  }
  if (lines.length) lines.push("");
  const errors = result.findings.filter((f) => f.severity === "error").length;
  const warnings = result.findings.length - errors;
  const files = new Set(result.findings.map((f) => f.file)).size;
  const scope = `${result.sites.size} site${result.sites.size === 1 ? "" : "s"}, ${result.hostsRendered} host${result.hostsRendered === 1 ? "" : "s"} rendered`;
  const counts = `${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`;
  if (result.valid) {
    const rel = result.release ? `; release ${result.release.id}` : "";
    lines.push(`${c("32", "✔")} ${location}: valid (${counts}; ${scope}${rel})`);
  } else {
    lines.push(`${c("31", "✖")} ${location}: invalid: ${counts} in ${files} file${files === 1 ? "" : "s"} (${scope})`);
  }
  return `${lines.join("\n")}\n`;
}

/** One JSON array of findings. */
export function formatJson(findings: Finding[]): string {
  return `${JSON.stringify(
    findings.map((f) => ({ code: f.code, severity: f.severity, file: f.file, line: f.line, column: f.column, message: f.message })),
    null,
    2,
  )}\n`;
}

const escData = (s: string): string => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
const escProp = (s: string): string => escData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");

/** GitHub Actions workflow commands: `::error file=…,line=…,col=…,title=CODE::message`. */
export function formatGithub(findings: Finding[], prefix: string): string {
  return findings
    .map((f) => {
      const file = prefix ? `${prefix.replace(/\/+$/, "")}/${f.file}` : f.file;
      return `::${f.severity} file=${escProp(file)},line=${f.line},col=${f.column},title=${escProp(f.code)}::${escData(f.message)}\n`;
    })
    .join("");
}
