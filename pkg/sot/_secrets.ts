/**
 * The secret rules of SOT.md: literal `password`/`passwd`/`secret` values in any YAML document, PEM private
 * keys anywhere, plaintext preseed and kickstart passwords, and literal secrets in YAML-typed assets.
 */
import type { FindingCode, Where } from "./_findings.ts";
import { type Model, textWhere, whereAt } from "./_load.ts";

const SECRET_KEY = /^(password|passwd|secret)$/i;
const PEM_PRIVATE = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/g;
/** `<owner> <question> <type> <value>` with a password question of type `password` or `string` and a value. */
const PRESEED_PASSWORD = /^[ \t]*\S+[ \t]+(\S*password\S*)[ \t]+(?:password|string)[ \t]+\S/gm;
/** Kickstart `rootpw` and `user … --password` without `--iscrypted`. */
const KICKSTART_PASSWORD = /^[ \t]*(rootpw\b|user\b.*--password)(?!.*--iscrypted).*$/gm;
const YAML_SECRET_LINE = /^[ \t]*(?:-[ \t]+)?(password|passwd|secret)[ \t]*:[ \t]*(?!\{\{[^}]*\}\}[ \t]*$)(?![|>&*!#])(\S.*)$/gim;

/** True for a literal secret value: a non-empty scalar that is not wholly one template expression. */
function isLiteral(value: unknown): boolean {
  if (typeof value === "number") return true;
  if (typeof value !== "string") return false;
  const t = value.trim();
  return t !== "" && !/^\{\{[^}]*\}\}$/.test(t);
}

/** Reports every secret in the model's documents and assets. */
export function scanSecrets(model: Model, add: (code: FindingCode, where: Where, message: string) => void): void {
  for (const { file, doc } of model.docs) {
    const walk = (val: unknown, path: (string | number)[], depth: number): void => {
      if (depth > 64 || val === null || typeof val !== "object") return;
      if (Array.isArray(val)) {
        for (let i = 0; i < val.length; i++) walk(val[i], [...path, i], depth + 1);
        return;
      }
      for (const [k, x] of Object.entries(val)) {
        if (SECRET_KEY.test(k) && isLiteral(x)) {
          add(
            "SECRET_LITERAL",
            whereAt(file, doc, [...path, k], true),
            `${file}: "${[...path, k].join(".")}" holds a literal secret; use a password_ref (env:NAME or file:/path) resolved on the agent`,
          );
        }
        walk(x, [...path, k], depth + 1);
      }
    };
    walk(doc.value, [], 0);
  }
  const texts: { file: string; text: string; type?: string }[] = [...model.assets.values(), ...model.snippets.values()];
  for (const f of model.tree.files) {
    if (!f.path.startsWith("assets/") && f.data && /\.(ya?ml|json)$/.test(f.path) && !f.problem) {
      texts.push({ file: f.path, text: new TextDecoder().decode(f.data) });
    }
  }
  for (const t of texts) {
    for (const m of t.text.matchAll(PEM_PRIVATE)) {
      add("SECRET_PRIVATE_KEY", textWhere(t.file, t.text, m.index ?? 0), `${t.file} holds a PEM private key; keep keys out of git`);
    }
    if (t.type === "preseed") {
      for (const m of t.text.matchAll(PRESEED_PASSWORD)) {
        if ((m[1] ?? "").endsWith("-crypted")) continue;
        add(
          "SECRET_PRESEED_PASSWORD",
          textWhere(t.file, t.text, m.index ?? 0),
          `${t.file}: "${m[1]}" sets a plaintext password; use the -crypted form`,
        );
      }
    }
    if (t.type === "kickstart") {
      for (const m of t.text.matchAll(KICKSTART_PASSWORD)) {
        if (/--lock\b/.test(m[0]) && !/--(plaintext|password)/.test(m[0])) continue;
        add(
          "SECRET_LITERAL",
          textWhere(t.file, t.text, m.index ?? 0),
          `${t.file}: "${m[1]}" sets a plaintext password; use --iscrypted with a hash`,
        );
      }
    }
    if (t.type === "ignition" || t.type === "cloud-config") {
      for (const m of t.text.matchAll(YAML_SECRET_LINE)) {
        add("SECRET_LITERAL", textWhere(t.file, t.text, m.index ?? 0), `${t.file}: "${m[1]}" holds a literal secret`);
      }
    }
  }
}
