// What a TypeScript user writes with the generated types (make clients
// checks it with tsc --strict). It fails to compile when a member's type is
// unusable: an object schema read as Record<string, never> refuses the
// payload below, an untyped one gives unknown where a string is expected.
import type { components, paths } from "./fedgate";

type Schemas = components["schemas"];

export const event: Schemas["EVENT"] = {
  type: "EVENT",
  messageId: "0193a5b2-7c1f-7a00-8b11-223344556677",
  instanceId: "0193a5b2-0000-7000-8000-000000000001",
  toInstanceId: "0193a5b2-7c1f-7a00-8b11-aabbccddeeff",
  connectionId: "0193a5b2-7c1e-7d3f-9a2b-4c5d6e7f8a90",
  timestamp: 1795748400000,
  signature: "c2FtcGxlIHNpZ25hdHVyZQ==",
  eventType: "task.created",
  payload: { taskId: "t-1", labels: ["a"] },
};

export const publish: paths["/events/publish"]["post"]["requestBody"]["content"]["application/json"] = {
  eventType: "task.created",
  payload: { taskId: "t-1" },
};

// A query's or command's answer data is any JSON value.
export const answers: NonNullable<Schemas["Response"]["data"]>[] = [{ agentId: "a-1" }, [1, "x"], "text", 2, true];

export function taskOf(m: Schemas["Message"]): string | undefined {
  const id = m.payload?.["taskId"];
  return m.messageType === "EVENT" && typeof id === "string" ? id : undefined;
}

export function published(
  answer: paths["/events/publish"]["post"]["responses"][202]["content"]["application/json"],
): string {
  return `${answer.eventId}: ${answer.deliveries} deliveries`;
}

export function capabilities(c: Schemas["Connection"]): string[] {
  const types = c.remoteCapabilities?.["eventTypes"];
  return Array.isArray(types) ? types.filter((t): t is string => typeof t === "string") : [];
}
