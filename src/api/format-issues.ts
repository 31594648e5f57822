import type { z } from 'zod';

/** One validation problem: `path` names the step by index and id, e.g. `steps[1] (id "wait").params.duration`. */
export interface FormattedIssue {
  path: string;
  message: string;
}

/**
 * Turns zod issues into `{ path, message }` for API error details. Pass the validated `input` to name steps by
 * id as well as by index, and to say "is required" for a missing field.
 */
export function formatIssues(
  error: { issues: readonly z.core.$ZodIssue[] },
  input?: unknown,
): FormattedIssue[] {
  return error.issues.map((issue) => {
    let path = '';
    let node: unknown = input;
    for (const segment of issue.path) {
      const child = readChild(node, segment);
      if (typeof segment === 'number') {
        path += `[${segment}]`;
        const id = readChild(child, 'id');
        if (typeof id === 'string' && id.length <= 100) path += ` (id ${JSON.stringify(id)})`;
      } else {
        path += `${path === '' ? '' : '.'}${String(segment)}`;
      }
      node = child;
    }
    const missing =
      issue.code === 'invalid_type' &&
      (input !== undefined ? node === undefined : issue.message.endsWith('received undefined'));
    const last = issue.path.at(-1);
    const message = missing
      ? typeof last === 'string'
        ? `"${last}" is required`
        : 'is required'
      : issue.message;
    return { path, message };
  });
}

function readChild(node: unknown, key: PropertyKey): unknown {
  if (typeof node !== 'object' || node === null || typeof key === 'symbol') return undefined;
  return Object.prototype.hasOwnProperty.call(node, key) ? (node as Record<string, unknown>)[key] : undefined;
}
