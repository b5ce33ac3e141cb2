// Upload planning: pure arithmetic, no DOM (node --test runs it).
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;
/** Below this size a file goes in one PUT; at or above, multipart. */
export const SINGLE_PUT_LIMIT = 16 * MiB;
export const MIN_PART = 8 * MiB;
export const MAX_PARTS = 10000;
/** S3's largest object and largest part. */
export const MAX_OBJECT = 5 * TiB;
export const MAX_PART = 5 * GiB;
/** Parts uploaded at the same time. */
export const CONCURRENCY = 4;

/**
 * How to send `size` bytes: `{ multipart: false, partSize: size, parts: 1 }` for one PUT, or
 * `{ multipart: true, partSize, parts }` with partSize = max(8 MiB, ceil(size / 10000)).
 * Throws a RangeError (plain words) for a size S3 cannot store.
 */
export function planUpload(size) {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('not a file size');
  if (size > MAX_OBJECT) throw new RangeError('larger than 5 TiB, the most one object can hold');
  if (size < SINGLE_PUT_LIMIT) return { multipart: false, partSize: size, parts: 1 };
  const partSize = Math.max(MIN_PART, Math.ceil(size / MAX_PARTS));
  return { multipart: true, partSize, parts: Math.ceil(size / partSize) };
}

/** Byte range [start, end) of part `n` (1-based). */
export function partRange(plan, size, n) {
  const start = (n - 1) * plan.partSize;
  return { start, end: Math.min(size, start + plan.partSize) };
}

/** Delay before retry `attempt` (1-based): 0.5 s, 1 s, 2 s, 4 s… capped at 8 s, with jitter. */
export function backoff(attempt, random = Math.random) {
  const base = Math.min(8000, 500 * 2 ** (attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** Part numbers of a plan not in `done` (a Set of finished part numbers). */
export function pendingParts(plan, done) {
  const out = [];
  for (let n = 1; n <= plan.parts; n++) if (!done.has(n)) out.push(n);
  return out;
}

/** Seconds left at `bytesPerSec`, or null when unknown. */
export function eta(remaining, bytesPerSec) {
  if (!(bytesPerSec > 0)) return null;
  return Math.max(0, remaining / bytesPerSec);
}
