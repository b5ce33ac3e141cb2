import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketNameError, keyError, folderNameError, expiryError, hostError, userIdError } from '../../console/js/validate.js';

test('good bucket names', () => {
  for (const n of ['abc', 'photos', 'my-bucket', 'my.bucket.2026', '123', 'a'.repeat(63), 'x-1.y-2']) {
    assert.equal(bucketNameError(n), null, n);
  }
});

test('bad bucket names say why', () => {
  const cases = {
    '': /Enter/, ab: /at least 3/, ['a'.repeat(64)]: /at most 63/, Photos: /lowercase/, 'my_bucket': /only lowercase/,
    '-abc': /Start/, 'abc-': /End/, 'a..b': /dots/, '192.168.1.1': /IP/, 'xn--abc': /xn--/, 'sthree-x': /sthree-/,
    'abc-s3alias': /-s3alias/, 'abc--ol-s3': /--ol-s3/, 'my bucket': /only lowercase/, 'amzn-s3-demo-x': /amzn-s3-demo-/,
  };
  for (const [n, re] of Object.entries(cases)) assert.match(bucketNameError(n) || '', re, JSON.stringify(n));
});

test('keys, folders, expiry, hosts, user ids', () => {
  assert.equal(keyError('a/b.txt'), null);
  assert.match(keyError('a'.repeat(1025)), /1024/);
  assert.match(keyError('bad\nkey'), /Control/);
  assert.match(keyError('é'.repeat(513)), /1024/); // 1026 bytes in UTF-8
  assert.equal(folderNameError('photos/2026'), null);
  assert.match(folderNameError('..'), /"\."/);
  assert.match(folderNameError('/abs'), /slash/);
  assert.match(folderNameError('  '), /Enter/);
  assert.equal(expiryError(3600), null);
  assert.equal(expiryError(604800), null);
  assert.match(expiryError(604801), /7 days/);
  assert.match(expiryError(0), /Choose/);
  assert.equal(hostError('assets.example.com'), null);
  assert.match(hostError('https://x.com/'), /host name only/);
  assert.match(hostError('localhost'), /full host/);
  assert.match(hostError('-bad.example.com'), /not a valid/);
  assert.equal(userIdError('alice@example.com'), null);
  assert.match(userIdError('root'), /reserved/);
  assert.match(userIdError('a b'), /only/);
});
