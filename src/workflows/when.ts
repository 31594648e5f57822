import type { When } from '../dsl/fields.js';
import { assertNever } from './failures.js';
import { lookupPath, type RenderContext } from './template.js';

/** `when` guards compare data, never evaluate code. Pure: it runs in workflow code. */
export function evaluateWhen(when: When, context: RenderContext): boolean {
  const actual = lookupPath(context, when.path.split('.'));
  switch (when.op) {
    case 'exists':
      return (actual !== undefined && actual !== null) === (when.value ?? true);
    case 'eq':
      return deepEqual(actual, when.value);
    case 'neq':
      return !deepEqual(actual, when.value);
    case 'in':
      return Array.isArray(when.value) && when.value.some((candidate) => deepEqual(actual, candidate));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return compare(actual, when.value, when.op);
    default:
      return assertNever(when.op);
  }
}

function compare(actual: unknown, expected: unknown, op: 'gt' | 'gte' | 'lt' | 'lte'): boolean {
  // Numbers compare as numbers (a numeric string from a form body counts), strings as strings; nothing else.
  let a: number | string;
  let b: number | string;
  if (typeof expected === 'number') {
    a = typeof actual === 'string' && actual.trim() !== '' ? Number(actual) : (actual as number);
    b = expected;
    if (typeof a !== 'number' || Number.isNaN(a)) return false;
  } else if (typeof expected === 'string' && typeof actual === 'string') {
    a = actual;
    b = expected;
  } else {
    return false;
  }
  if (op === 'gt') return a > b;
  if (op === 'gte') return a >= b;
  if (op === 'lt') return a < b;
  return a <= b;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
