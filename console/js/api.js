// The admin API client: credentials in sessionStorage, JSON in and out, errors as ApiError
// (with the field they name, so forms can show them in place), 401 → sign-in.
const STORE = 'bucketgate.auth';

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(STORE)); } catch { return null; }
  },
  set(v) { sessionStorage.setItem(STORE, JSON.stringify(v)); },
  clear() { sessionStorage.removeItem(STORE); },
};

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

/** The request field an error is about: `field` when the server names it, else the
 * `field: message` prefix the API uses for InvalidArgument. */
export function errorField(err) {
  if (err?.field) return err.field;
  const m = /^([a-zA-Z][a-zA-Z0-9_.[\]]*): /.exec(err?.message || '');
  return m ? m[1] : null;
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function authHeader(auth) {
  if (!auth) return {};
  const token = auth.token ?? `${auth.accessKey}:${auth.secretKey}`;
  return { Authorization: `Bearer ${token}` };
}

/** One API call. `auth` defaults to the session's credentials. */
export async function api(method, path, body, opts = {}) {
  const fromSession = !('auth' in opts);
  const auth = fromSession ? session.get() : opts.auth;
  const { signal } = opts;
  const headers = { Accept: 'application/json', ...authHeader(auth) };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NetworkError', 'The server did not answer. Check your connection.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = data?.error || {};
    const err = new ApiError(res.status, e.code || `HTTP${res.status}`, e.message || res.statusText || 'Request failed', e.field);
    if (res.status === 401 && fromSession) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const enc = encodeURIComponent;
/** A key in a path: each segment encoded, slashes kept. */
export const encKey = (k) => k.split('/').map(encodeURIComponent).join('/');

let configCache = null;
/** `GET /api/config` (no auth), cached; a fallback when the server predates it. */
export async function config() {
  if (configCache) return configCache;
  try {
    configCache = await api('GET', '/api/config', undefined, { auth: null });
  } catch {
    configCache = { s3Endpoint: null, region: 'us-east-1', baseDomain: 's3.localhost', websiteBaseDomain: 'web.localhost', version: '' };
  }
  return configCache;
}

/** Who the credentials are; a token without ':' is the admin when the route is missing. */
export async function whoami(auth = session.get()) {
  try {
    return await api('GET', '/api/whoami', undefined, { auth });
  } catch (e) {
    if (e.status !== 404) throw e;
    await api('GET', '/api/buckets', undefined, { auth }); // still checks the credentials
    return auth.token ? { admin: true, user: null, accessKey: null } : { admin: false, user: null, accessKey: auth.accessKey };
  }
}

// ---- buckets
export const listBuckets = () => api('GET', '/api/buckets').then((r) => r.buckets);
export const getBucket = (b) => api('GET', `/api/buckets/${enc(b)}`);
export const createBucket = (body) => api('POST', '/api/buckets', body);
export const updateBucket = (b, patch) => api('PATCH', `/api/buckets/${enc(b)}`, patch);
export const deleteBucket = (b) => api('DELETE', `/api/buckets/${enc(b)}`);
export const startBucket = (b) => api('POST', `/api/buckets/${enc(b)}/start`);
export const stopBucket = (b) => api('POST', `/api/buckets/${enc(b)}/stop`);
export const bucketStats = (b) => api('GET', `/api/buckets/${enc(b)}/stats`);
export const statsHistory = (b, range) => api('GET', `/api/buckets/${enc(b)}/stats/history?range=${enc(range)}`);
export const linkDomain = (b, domain) => api('POST', `/api/buckets/${enc(b)}/domain`, { domain });
export const unlinkDomain = (b, domain) => api('DELETE', `/api/buckets/${enc(b)}/domain`, { domain });
export const checkDomain = (b, host) => api('GET', `/api/buckets/${enc(b)}/domain/check?host=${encodeURIComponent(host)}`);

// ---- objects
export function listObjects(b, { prefix = '', delimiter = '/', token = '', maxKeys = 1000 } = {}, signal) {
  const q = new URLSearchParams({ prefix, delimiter, maxKeys: String(maxKeys) });
  if (token) q.set('continuationToken', token);
  return api('GET', `/api/buckets/${enc(b)}/objects?${q}`, undefined, { signal });
}
export const objectMeta = (b, key) => api('GET', `/api/buckets/${enc(b)}/objects/${encKey(key)}?metadata`);
export const deleteObject = (b, key) => api('DELETE', `/api/buckets/${enc(b)}/objects/${encKey(key)}`);

let dispositionSupported = true;
/** Presigned GET; asks for a Content-Disposition when the server supports it. */
export async function presignGet(b, key, { expiresIn = 3600, disposition, filename } = {}) {
  const path = `/api/buckets/${enc(b)}/presigned-download`;
  if (disposition && dispositionSupported) {
    try {
      return await api('POST', path, { key, expiresIn, disposition, filename });
    } catch (e) {
      // An older server refuses unknown fields: fall back to a plain URL.
      if (e.status !== 400 || errorField(e) === 'key' || errorField(e) === 'expiresIn') throw e;
      dispositionSupported = false;
    }
  }
  return api('POST', path, { key, expiresIn });
}
export const presignPut = (b, key, expiresIn = 3600) => api('POST', `/api/buckets/${enc(b)}/presigned-upload`, { key, expiresIn });

// ---- multipart (browser uploads)
export const createUpload = (b, key, contentType) => api('POST', `/api/buckets/${enc(b)}/uploads`, { key, contentType: contentType || undefined });
export const presignParts = (b, id, key, partNumbers) => api('POST', `/api/buckets/${enc(b)}/uploads/${enc(id)}/parts`, { key, partNumbers, expiresIn: 3600 });
export const listParts = (b, id, key) => api('GET', `/api/buckets/${enc(b)}/uploads/${enc(id)}/parts?key=${enc(key)}`);
export const completeUpload = (b, id, key, parts) => api('POST', `/api/buckets/${enc(b)}/uploads/${enc(id)}/complete`, { key, parts });
export const abortUpload = (b, id, key) => api('DELETE', `/api/buckets/${enc(b)}/uploads/${enc(id)}?key=${enc(key)}`);

// ---- users and keys
export const listUsers = () => api('GET', '/api/users').then((r) => r.users);
export const createUser = (body) => api('POST', '/api/users', body);
export const deleteUser = (id) => api('DELETE', `/api/users/${enc(id)}`);
export const listKeys = (id) => api('GET', `/api/users/${enc(id)}/keys`).then((r) => r.keys);
export const createKey = (id) => api('POST', `/api/users/${enc(id)}/keys`);
export const setKeyDisabled = (id, k, disabled) => api('PATCH', `/api/users/${enc(id)}/keys/${enc(k)}`, { disabled });
export const deleteKey = (id, k) => api('DELETE', `/api/users/${enc(id)}/keys/${enc(k)}`);
