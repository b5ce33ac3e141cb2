import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planUpload, partRange, backoff, pendingParts, eta, MiB, GiB, TiB } from '../../console/js/planner.js';

test('0 B and 1 B go in one PUT', () => {
  assert.deepEqual(planUpload(0), { multipart: false, partSize: 0, parts: 1 });
  assert.deepEqual(planUpload(1), { multipart: false, partSize: 1, parts: 1 });
});

test('16 MiB - 1 is one PUT, 16 MiB is multipart in 8 MiB parts', () => {
  assert.equal(planUpload(16 * MiB - 1).multipart, false);
  assert.deepEqual(planUpload(16 * MiB), { multipart: true, partSize: 8 * MiB, parts: 2 });
  assert.deepEqual(planUpload(20 * MiB), { multipart: true, partSize: 8 * MiB, parts: 3 });
});

test('100 GiB: part size grows so that parts stay within 10,000', () => {
  const p = planUpload(100 * GiB);
  assert.equal(p.partSize, Math.ceil((100 * GiB) / 10000));
  assert.equal(p.parts, 10000);
  assert.ok(p.partSize >= 8 * MiB);
});

test('8 MiB parts up to 10,000 × 8 MiB', () => {
  assert.deepEqual(planUpload(10000 * 8 * MiB), { multipart: true, partSize: 8 * MiB, parts: 10000 });
  const just = planUpload(10000 * 8 * MiB + 1);
  assert.equal(just.partSize, 8 * MiB + 1);
  assert.ok(just.parts <= 10000);
});

test('5 TiB fits; more than 5 TiB is refused in plain words', () => {
  const p = planUpload(5 * TiB);
  assert.equal(p.parts, 10000);
  assert.equal(p.partSize, Math.ceil((5 * TiB) / 10000));
  assert.ok(p.partSize <= 5 * GiB);
  assert.throws(() => planUpload(5 * TiB + 1), /5 TiB/);
  assert.throws(() => planUpload(-1), RangeError);
  assert.throws(() => planUpload(1.5), RangeError);
});

test('part ranges cover the file exactly once', () => {
  const size = 20 * MiB + 7;
  const plan = planUpload(size);
  let covered = 0;
  for (let n = 1; n <= plan.parts; n++) {
    const { start, end } = partRange(plan, size, n);
    assert.equal(start, covered);
    covered = end;
  }
  assert.equal(covered, size);
  assert.equal(partRange(plan, size, plan.parts).end - partRange(plan, size, plan.parts).start, 4 * MiB + 7);
});

test('pending parts skip finished ones (resume)', () => {
  const plan = planUpload(40 * MiB);
  assert.deepEqual(pendingParts(plan, new Set([1, 3])), [2, 4, 5]);
});

test('backoff doubles, is capped, and jitters within ±25%', () => {
  assert.equal(backoff(1, () => 0.5), 500);
  assert.equal(backoff(2, () => 0.5), 1000);
  assert.equal(backoff(3, () => 0.5), 2000);
  assert.equal(backoff(10, () => 0.5), 8000);
  assert.equal(backoff(1, () => 0), 375);
  assert.equal(backoff(1, () => 1), 625);
});

test('eta', () => {
  assert.equal(eta(100, 50), 2);
  assert.equal(eta(100, 0), null);
});
