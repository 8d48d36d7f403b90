// The REST client: one place that adds the API key and turns errors into
// messages. A 401 asks for the key (once) and retries.

const KEY = 'ao.apiKey';

export function apiKey() {
  return localStorage.getItem(KEY) || '';
}

let asking = null;

/** Shows the key dialog; resolves when a key that the server takes is saved. */
export function askForKey(message) {
  if (asking) return asking;
  const dialog = document.getElementById('key-dialog');
  const form = document.getElementById('key-form');
  const input = document.getElementById('key-input');
  const error = document.getElementById('key-error');
  error.hidden = !message;
  error.textContent = message || '';
  input.value = '';
  asking = new Promise((resolve) => {
    const submit = async (e) => {
      e.preventDefault();
      const key = input.value.trim();
      const res = await fetch('/api/v1/queue', { headers: { 'X-Api-Key': key } });
      if (res.status === 401) {
        error.hidden = false;
        error.textContent = 'That key was not accepted.';
        input.focus();
        return;
      }
      localStorage.setItem(KEY, key);
      form.removeEventListener('submit', submit);
      dialog.close();
      asking = null;
      resolve(key);
    };
    form.addEventListener('submit', submit);
    dialog.addEventListener('cancel', (e) => e.preventDefault());
    dialog.showModal();
    input.focus();
  });
  return asking;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * An image the API serves (a book's cover), as an object URL the page can
 * show; null when there is none. Fetched with the key, which an <img>
 * cannot send.
 */
export async function apiImage(path) {
  const key = apiKey();
  const res = await fetch(path, { headers: key ? { 'X-Api-Key': key } : {} });
  if (!res.ok) return null;
  return URL.createObjectURL(await res.blob());
}

export async function api(path, options = {}) {
  for (;;) {
    const headers = { Accept: 'application/json', ...(options.headers || {}) };
    const key = apiKey();
    if (key) headers['X-Api-Key'] = key;
    let body = options.body;
    if (body !== undefined) {
      // The server takes bodies only as JSON (a cross-site page cannot
      // send that content type without a preflight).
      if (typeof body !== 'string') body = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(path, { method: options.method || 'GET', headers, body });
    if (res.status === 401) {
      await askForKey(key ? 'The stored key was not accepted.' : '');
      continue;
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
    }
    return data;
  }
}
