/**
 * Exponential backoff with "full jitter" (a random delay between half and
 * all of the exponential step), capped. Jitter keeps many failed jobs, or
 * many reconnecting hosts, from retrying in lock-step.
 */
export function jitteredBackoff(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(step / 2 + random() * (step / 2))
}

/** The BullMQ custom backoff type name Parley registers on its workers. */
export const BACKOFF_TYPE = 'parley-jitter'
