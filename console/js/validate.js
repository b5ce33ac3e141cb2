// Validation of what people type: bucket names (S3 rules), object keys, folder names, expiry.
// Each check returns null when fine, else a sentence saying what to change. No DOM.

/** S3 bucket naming rules (general purpose buckets). */
export function bucketNameError(name) {
  if (typeof name !== 'string' || name.length === 0) return 'Enter a name.';
  if (name.length < 3) return 'Use at least 3 characters.';
  if (name.length > 63) return 'Use at most 63 characters.';
  if (/[A-Z]/.test(name)) return 'Use lowercase letters only.';
  if (/[^a-z0-9.-]/.test(name)) return 'Use only lowercase letters, digits, hyphens (-) and dots (.).';
  if (!/^[a-z0-9]/.test(name)) return 'Start with a letter or a digit.';
  if (!/[a-z0-9]$/.test(name)) return 'End with a letter or a digit.';
  if (name.includes('..')) return 'Two dots in a row are not allowed.';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'A name cannot look like an IP address.';
  for (const p of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(p)) return `A name cannot start with "${p}".`;
  }
  for (const s of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(s)) return `A name cannot end with "${s}".`;
  }
  return null;
}

/** Object keys: 1..1024 UTF-8 bytes, no control characters. */
export function keyError(key) {
  if (typeof key !== 'string' || key.length === 0) return 'Enter a name.';
  if (new TextEncoder().encode(key).length > 1024) return 'Keys are at most 1024 bytes long.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'Control characters are not allowed.';
  return null;
}

/** A folder name typed in the file browser (one segment; slashes make nested folders). */
export function folderNameError(name) {
  const n = String(name ?? '').trim();
  if (!n) return 'Enter a folder name.';
  if (n === '.' || n === '..' || n.split('/').some((s) => s === '.' || s === '..')) return 'Names "." and ".." are not allowed.';
  if (n.startsWith('/')) return 'Do not start with a slash.';
  return keyError(n);
}

/** Share-link expiry in seconds: 1 s .. 7 days. */
export const MAX_EXPIRY_SECS = 7 * 24 * 3600;
export function expiryError(secs) {
  if (!Number.isInteger(secs) || secs < 1) return 'Choose an expiry.';
  if (secs > MAX_EXPIRY_SECS) return 'Share links last at most 7 days.';
  return null;
}

/** Host names for domain links: labels of letters, digits and hyphens. */
export function hostError(host) {
  const h = String(host ?? '').trim().toLowerCase().replace(/\.$/, '');
  if (!h) return 'Enter a host name.';
  if (h.length > 253) return 'Host names are at most 253 characters.';
  if (h.includes('://') || h.includes('/')) return 'Enter the host name only (no http:// and no path).';
  const labels = h.split('.');
  if (labels.length < 2) return 'Enter a full host name, e.g. assets.example.com.';
  for (const l of labels) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) return `"${l}" is not a valid host label.`;
  }
  return null;
}

/** User ids as the API accepts them: 1..128 of letters, digits, - _ . @ ("root" is reserved). */
export function userIdError(id) {
  const s = String(id ?? '');
  if (!s) return 'Enter a user id.';
  if (s.length > 128) return 'Use at most 128 characters.';
  if (!/^[A-Za-z0-9._@-]+$/.test(s)) return 'Use letters, digits, dots, hyphens, underscores and @ only.';
  if (s === 'root') return '"root" is reserved.';
  return null;
}
