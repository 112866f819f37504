// Talking to the server: JSON over fetch with the session cookie and the CSRF header; works in the service worker too.

import { getMeta, setMeta } from './store.js';

export class Offline extends Error {}
export class SignedOut extends Error {}
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

function cookie(name) {
  if (typeof document === 'undefined') return null;
  const hit = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null;
}

// The service worker cannot read cookies, so the page leaves the token where it can find it.
export async function csrfToken() {
  const fresh = cookie('csrftoken');
  if (fresh) {
    if (fresh !== (await getMeta('csrf'))) await setMeta('csrf', fresh);
    return fresh;
  }
  return getMeta('csrf');
}

export async function api(method, path, body, { timeout = 30000 } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRFToken'] = (await csrfToken()) || '';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: controller.signal,
    });
  } catch (error) {
    throw new Offline(error.name === 'AbortError' ? 'the server did not answer in time' : 'no connection');
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 401) throw new SignedOut('signed out');
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
