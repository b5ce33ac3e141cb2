import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatSpeed, formatDuration, formatCount, formatDate, parseSize, percent, baseName } from '../../console/js/format.js';

test('formatBytes', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(20 * 1024 * 1024), '20 MiB');
  assert.equal(formatBytes(10 * 1024 ** 3), '10 GiB');
  assert.equal(formatBytes(1.25 * 1024 ** 4), '1.25 TiB');
  assert.equal(formatBytes(123.4 * 1024 ** 2), '123 MiB');
  assert.equal(formatBytes(null), '—');
});

test('speed, duration, count', () => {
  assert.equal(formatSpeed(0), '—');
  assert.equal(formatSpeed(2 * 1024 * 1024), '2 MiB/s');
  assert.equal(formatDuration(5), '5 s');
  assert.equal(formatDuration(185), '3 min 05 s');
  assert.equal(formatDuration(7800), '2 h 10 min');
  assert.equal(formatDuration(3 * 86400), '3 d 0 h');
  assert.equal(formatDuration(null), '—');
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatCount(0), '0');
});

test('formatDate', () => {
  assert.match(formatDate('2026-12-02T14:05:00Z'), /^2026-12-0[23] \d\d:\d5$/);
  assert.equal(formatDate('nope'), '—');
  assert.equal(formatDate(null), '—');
});

test('parseSize', () => {
  assert.equal(parseSize(''), null);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('10 GiB'), 10 * 1024 ** 3);
  assert.equal(parseSize('10GiB'), 10 * 1024 ** 3);
  assert.equal(parseSize('1.5 tb'), 1.5 * 1000 ** 4);
  assert.equal(parseSize('20 MiB'), 20 * 1024 ** 2);
  assert.equal(parseSize(formatBytes(20 * 1024 ** 2)), 20 * 1024 ** 2);
  assert.ok(Number.isNaN(parseSize('ten')));
  assert.ok(Number.isNaN(parseSize('5 parsecs')));
});

test('percent and baseName', () => {
  assert.equal(percent(50, 200), 25);
  assert.equal(percent(500, 200), 100);
  assert.equal(percent(5, null), null);
  assert.equal(baseName('a/b/c.txt'), 'c.txt');
  assert.equal(baseName('a/b/'), 'b/');
  assert.equal(baseName('top'), 'top');
});
