// The console's only way to the server: the /console/api routes. Every API
// call goes through /console/api/call/{service} with the body an AWS SDK
// would send (Query form for ec2/iam/sts, JSON 1.1 for the others); the
// answer is the API's own, so refusals carry AWS's code and message.

export const API_VERSIONS = { ec2: '2016-11-15', iam: '2010-05-08', sts: '2011-06-15' };
const TARGETS = {
  'ec2-instance-connect': 'AWSEC2InstanceConnectService',
  cloudtrail: 'CloudTrail_20131101',
};

/** An AWS (or console) refusal: code and message as the server sent them. */
export class ApiError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code || 'Error';
    this.status = status || 0;
  }
}

let session = null;
const listeners = new Set();

export function currentSession() { return session; }

const noticeListeners = new Set();
/** onNotice(fn): fn(text) for things the person should be told at once. */
export function onNotice(fn) { noticeListeners.add(fn); }
function notice(text) { for (const fn of noticeListeners) fn(text); }
export function onSession(fn) { listeners.add(fn); }
function setSession(s) {
  session = s;
  for (const fn of listeners) fn(s);
}

function csrfHeaders() {
  return session && session.csrfToken ? { 'X-Postern-CSRF': session.csrfToken } : {};
}

// parseJSONError reads {"Code","Message"} (console), {"__type","message"}
// (JSON 1.1) answers.
function parseJSONError(text, status) {
  try {
    const j = JSON.parse(text);
    let code = j.Code || j.code || j.__type || '';
    if (code.includes('#')) code = code.slice(code.lastIndexOf('#') + 1);
    if (code.includes(':')) code = code.slice(0, code.indexOf(':'));
    const msg = j.Message || j.message || j.errorMessage || '';
    if (code || msg) return new ApiError(code || `HTTP${status}`, msg, status);
  } catch { /* not JSON */ }
  return null;
}

function parseXMLError(text, status) {
  const doc = parseXML(text);
  if (!doc) return null;
  const code = doc.getElementsByTagName('Code')[0];
  const msg = doc.getElementsByTagName('Message')[0];
  if (!code && !msg) return null;
  return new ApiError(code ? code.textContent : `HTTP${status}`, msg ? msg.textContent : '', status);
}

function httpError(res, text) {
  return parseJSONError(text, res.status) || parseXMLError(text, res.status)
    || new ApiError(`HTTP${res.status}`, text.trim().slice(0, 300) || res.statusText || 'The server refused the request.', res.status);
}

// A GET that fails at the network level (fetch rejects with a TypeError)
// is sent again after these pauses. A browser fails every request still
// connecting when the machine's network changes (an interface or address
// comes or goes: a VPN, a container's veth; Chromium's ERR_NETWORK_CHANGED),
// though the server is there; a read is safe to repeat. A write is not
// repeated: the server may have acted on it.
const GET_RETRY_PAUSES_MS = [250, 1000];

async function send(method, path, { body, headers = {}, allowed401 = false } = {}) {
  let res;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(path, {
        method,
        headers: { ...(method !== 'GET' ? csrfHeaders() : {}), ...headers },
        body,
        credentials: 'same-origin',
        cache: 'no-store',
      });
      break;
    } catch (e) {
      if (method !== 'GET' || !(e instanceof TypeError) || attempt >= GET_RETRY_PAUSES_MS.length) {
        throw new ApiError('NetworkError', `The server could not be reached (${e.message}).`);
      }
      await new Promise((resolve) => { setTimeout(resolve, GET_RETRY_PAUSES_MS[attempt]); });
    }
  }
  const text = await res.text();
  if (!res.ok) {
    const err = httpError(res, text);
    if (res.status === 401 && !allowed401 && (err.code === 'NotSignedIn' || err.code === 'SessionExpired')) {
      setSession(null);
    } else if (err.code === 'RoleSessionExpired' || err.code === 'InvalidCSRFToken') {
      // Back to the user's own session, or a new session in another tab:
      // the page reloads the session (and its CSRF token).
      if (err.code === 'RoleSessionExpired') notice(err.message);
      loadSession().catch(() => {});
    }
    throw err;
  }
  return text;
}

async function postJSON(path, obj, opts = {}) {
  const text = await send('POST', path, {
    body: JSON.stringify(obj || {}),
    headers: { 'Content-Type': 'application/json' },
    ...opts,
  });
  return text ? JSON.parse(text) : {};
}

/** GET /console/api/session; null when not signed in. */
export async function loadSession() {
  try {
    const s = JSON.parse(await send('GET', '/console/api/session', { allowed401: true }));
    setSession(s);
    return s;
  } catch (e) {
    if (e.status === 401) {
      setSession(null);
      return null;
    }
    throw e;
  }
}

export async function signIn(fields) {
  const s = await postJSON('/console/api/signin', fields, { allowed401: true });
  return s && s.csrfToken ? (setSession(s), s) : loadSession();
}
export async function signInLink(token) {
  const s = await postJSON('/console/api/signin-link', { token }, { allowed401: true });
  return s && s.csrfToken ? (setSession(s), s) : loadSession();
}
/** The identity providers the sign-in page offers: [{id, name}]. */
export async function providers() {
  const j = JSON.parse(await send('GET', '/console/api/providers'));
  return j.providers || [];
}
/** Starts "Sign in with <provider>": the provider's authorization URL. */
export async function signInOIDCStart(provider) {
  const j = await postJSON('/console/api/signin-oidc/start', { provider });
  return j.authorizationUrl;
}
/** What a federated sign-in left for the page: {error} or {provider, subject, roles}; {} when nothing. */
export async function signInOIDCPending() {
  return JSON.parse(await send('GET', '/console/api/signin-oidc/pending'));
}
/** Finishes a federated sign-in as the chosen role. */
export async function signInOIDCFinish(roleArn) {
  const s = await postJSON('/console/api/signin-oidc/finish', { roleArn }, { allowed401: true });
  return s && s.csrfToken ? (setSession(s), s) : loadSession();
}
/** Drops a federated sign-in waiting for its role. */
export async function signInOIDCCancel() {
  await postJSON('/console/api/signin-oidc/cancel', {});
}
export async function signOut() {
  try {
    await postJSON('/console/api/signout', {});
  } finally {
    setSession(null);
  }
}
export async function switchRole(roleArn, sessionName) {
  const body = { roleArn };
  if (sessionName) body.sessionName = sessionName;
  const s = await postJSON('/console/api/switch-role', body);
  return s && s.csrfToken ? (setSession(s), s) : loadSession();
}
export async function switchBack() {
  const s = await postJSON('/console/api/switch-back', {});
  return s && s.csrfToken ? (setSession(s), s) : loadSession();
}
export async function resetHostKey(instanceId, port = 22) {
  return postJSON('/console/api/host-keys/reset', { instanceId, port });
}
export async function getJSON(path) {
  const t = await send('GET', path);
  return t ? JSON.parse(t) : null;
}
export async function getText(path) {
  return send('GET', path);
}

// ---- Query (ec2, iam, sts) ------------------------------------------------

/** Calls a Query action; params is a flat {name: value} map (see flat()). */
export async function query(service, action, params = {}) {
  const form = new URLSearchParams();
  form.set('Action', action);
  form.set('Version', API_VERSIONS[service]);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    form.set(k, String(v));
  }
  const text = await send('POST', `/console/api/call/${service}`, {
    body: form.toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' },
  });
  const doc = parseXML(text);
  if (!doc) throw new ApiError('InvalidResponse', 'The server answered with something that is not XML.');
  const root = doc.documentElement;
  if (root.nodeName === 'Response' || root.nodeName === 'ErrorResponse') {
    throw parseXMLError(text, 200) || new ApiError('Error', text.slice(0, 300));
  }
  return xmlToObj(root);
}

/** Flattens a list the way AWS Query does: Filter.1.Name=… */
export function flat(prefix, list, out = {}) {
  (list || []).forEach((v, i) => {
    const key = `${prefix}.${i + 1}`;
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (Array.isArray(x)) flat(`${key}.${k}`, x, out);
        else if (x !== null && typeof x === 'object') flatObj(`${key}.${k}`, x, out);
        else out[`${key}.${k}`] = x;
      }
    } else {
      out[key] = v;
    }
  });
  return out;
}
function flatObj(prefix, obj, out) {
  for (const [k, x] of Object.entries(obj)) {
    if (Array.isArray(x)) flat(`${prefix}.${k}`, x, out);
    else if (x !== null && typeof x === 'object') flatObj(`${prefix}.${k}`, x, out);
    else out[`${prefix}.${k}`] = x;
  }
}

export function parseXML(text) {
  if (!text || !text.trimStart().startsWith('<')) return null;
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) return null;
  return doc;
}

/**
 * Converts an XML answer into plain objects: an element whose children
 * are all <item> or <member> becomes an array; a leaf becomes its text.
 */
export function xmlToObj(el) {
  const kids = [...el.children];
  if (kids.length === 0) return el.textContent;
  if (kids.every((k) => k.localName === 'item' || k.localName === 'member')) return kids.map(xmlToObj);
  const o = {};
  for (const k of kids) {
    const v = xmlToObj(k);
    const name = k.localName;
    if (name in o) o[name] = [].concat(o[name], [v]);
    else o[name] = v;
  }
  return o;
}

/** A list from xmlToObj's output: arrays as is, "" or undefined as []. */
export function list(x) {
  if (Array.isArray(x)) return x;
  if (x === undefined || x === null || x === '') return [];
  return [x];
}

/** Calls an EC2 Describe* action and follows NextToken (bounded). */
export async function ec2All(action, params, setName) {
  const out = [];
  let token = '';
  for (let page = 0; page < 50; page++) {
    const r = await query('ec2', action, { ...params, NextToken: token || undefined });
    out.push(...list(r[setName]));
    token = r.nextToken || '';
    if (!token) break;
  }
  return out;
}

/** Calls an IAM List* action and follows Marker (bounded). */
export async function iamAll(action, params, listName) {
  const out = [];
  let marker = '';
  for (let page = 0; page < 50; page++) {
    const r = await query('iam', action, { ...params, Marker: marker || undefined });
    const res = r[`${action}Result`] || {};
    out.push(...list(res[listName]));
    marker = res.IsTruncated === 'true' ? res.Marker : '';
    if (!marker) break;
  }
  return out;
}

// ---- JSON 1.1 (ec2-instance-connect, cloudtrail) --------------------------

export async function jsonCall(service, action, body = {}) {
  const text = await send('POST', `/console/api/call/${service}`, {
    body: JSON.stringify(body),
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `${TARGETS[service]}.${action}`,
    },
  });
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('InvalidResponse', 'The server answered with something that is not JSON.');
  }
}
