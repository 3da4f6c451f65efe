/**
 * JSON request bodies for the control endpoints: read with a size limit, parsed, checked against a valibot schema
 * field by field (the first problem names its field), and the OpenAPI request description of such a body; plus
 * the one way a route turns a thrown error into an answer.
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { describeError, isVaqueroError } from "../../internal/errors/index.ts";
import type { Logger } from "../../internal/log/index.ts";
import { isStoreError } from "../store/index.ts";
import { errorResponse, readBody, STATUS } from "./_http.ts";

/** The OpenAPI description of a required JSON body of `schema`. */
export const jsonRequest = (schema: v.GenericSchema) => ({
  required: true,
  content: { "application/json": { schema: toJsonSchema(schema) as object } },
});

/** Reads and validates a JSON object body; the first problem names its field. An empty body counts as `{}` when `empty` is set. */
export async function jsonBody<T>(
  request: Request,
  limit: number,
  what: string,
  schema: v.GenericSchema<unknown, T>,
  empty = false,
): Promise<{ ok: true; value: T } | { ok: false; response: Response }> {
  const text = await readBody(request, limit);
  if (text === undefined) return { ok: false, response: errorResponse("BODY_TOO_LARGE", `${what} bodies are at most ${limit} bytes`) };
  let value: unknown;
  try {
    value = empty && text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    const why = text.trim() === "" ? "the body is empty" : describeError(e).slice(0, 200);
    return { ok: false, response: errorResponse("BODY_INVALID", `${what} wants a JSON object: ${why}`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, response: errorResponse("BODY_INVALID", `${what}: the body must be a JSON object`) };
  }
  const r = v.safeParse(schema, value);
  if (r.success) return { ok: true, value: r.output };
  const issue = r.issues[0];
  const path = issue ? v.getDotPath(issue) : null;
  const msg =
    issue?.type === "strict_object" && issue.expected === "never"
      ? `unknown field ${JSON.stringify(path ?? "")}`
      : `${path === null ? "" : `field ${JSON.stringify(path)}: `}${issue?.message ?? "invalid body"}`;
  return { ok: false, response: errorResponse("BODY_INVALID", `${what}: ${msg}`) };
}

/**
 * A route's answer to a thrown error: the store failing → 503 (`store`'s code and message, STORE_UNAVAILABLE by
 * default); a typed error with a known code → its status; anything else → 500 INTERNAL, logged (the message is
 * not shown to the client).
 */
export function failureResponder(
  log: Logger,
  store: { code: string; message: string } = { code: "STORE_UNAVAILABLE", message: "the store could not be reached; try again" },
): (e: unknown, what: string) => Response {
  return (e, what) => {
    if (isStoreError(e)) {
      log.error({ err: describeError(e) }, `${what}: store failed`);
      return errorResponse(store.code, `${what}: ${store.message}`);
    }
    if (isVaqueroError(e) && STATUS[e.code] !== undefined) return errorResponse(e.code, e.message);
    log.error({ err: describeError(e) }, `${what} failed`);
    return errorResponse("INTERNAL", `${what} failed`);
  };
}
