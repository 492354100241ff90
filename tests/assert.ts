/**
 * The few assertions the tests need (jsr's @std/assert is unreachable here).
 */
import { inspect, isDeepStrictEqual } from "node:util";

/** Throws unless `cond` holds. */
export function assert(cond: unknown, message = "assertion failed"): asserts cond {
  if (!cond) throw new Error(message);
}

/** Deep equality (typed arrays by value). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(
      `${message ? message + ": " : ""}values differ\n  actual:   ${inspect(actual, { depth: 4 })}\n  expected: ${
        inspect(expected, { depth: 4 })
      }`,
    );
  }
}

/** Checks that `error` is a `type` whose message includes `includes`; returns it. */
function expectedError<E extends Error>(error: unknown, type: new (...args: never[]) => E, includes?: string): E {
  if (!(error instanceof type)) {
    throw new Error(`expected a ${type.name}, got ${(error as Error)?.stack ?? error}`);
  }
  if (includes && !error.message.includes(includes)) {
    throw new Error(
      `expected the message to include ${JSON.stringify(includes)}, got ${JSON.stringify(error.message)}`,
    );
  }
  return error;
}

/** Asserts that a promise rejects with an instance of `type`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return expectedError(error, type, includes);
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}

/** Asserts that `fn` throws an instance of `type` (whose message includes `includes`); returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  type: new (...args: never[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    return expectedError(error, type, includes);
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}

/** Throws `error`-less failure with a message. */
export function fail(message: string): never {
  throw new Error(message);
}
