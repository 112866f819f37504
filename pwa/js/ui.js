// Small DOM and formatting helpers shared by the screens.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCounter = 0;
// A labelled input: every control has a visible label tied to it.
export function field(label, control, hint) {
  const id = control.id || `f${(fieldCounter += 1)}`;
  control.id = id;
  const parts = [h('label', { for: id, text: label }), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('p', { class: 'hint', id: hintId, text: hint }));
  }
  return h('div', { class: 'field' }, parts);
}

const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayTimeFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFmt.format(d);
}

export function fmtTime(ms) {
  return ms ? timeFmt.format(new Date(ms)) : '';
}

export function fmtWhen(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dayTimeFmt.format(d);
}

export function fmtMoney(amount, currency = 'EUR') {
  if (amount === null || amount === undefined || amount === '') return '';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 0 }).format(Number(amount));
  } catch {
    return `${amount} ${currency}`;
  }
}

export function ago(ms) {
  if (!ms) return 'never';
  const minutes = Math.round((Date.now() - ms) / 60000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return fmtWhen(new Date(ms).toISOString());
}

// A datetime-local value (the phone's local time) from an ISO instant, and back.
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

export const STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'];

export function cap(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : '';
}

export function telHref(phone) {
  return `tel:${String(phone).replace(/[^0-9+]/g, '')}`;
}

export function mapsHref(v) {
  if (typeof v.latitude === 'number' && typeof v.longitude === 'number') {
    return `https://www.openstreetmap.org/?mlat=${v.latitude}&mlon=${v.longitude}#map=17/${v.latitude}/${v.longitude}`;
  }
  return v.address ? `https://www.openstreetmap.org/search?query=${encodeURIComponent(v.address)}` : null;
}

export function toast(message, { error = false } = {}) {
  const region = document.getElementById('toasts') || document.body.appendChild(h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' }));
  const note = h('p', { class: error ? 'toast error' : 'toast', text: message });
  region.append(note);
  setTimeout(() => note.remove(), 5000);
}

export function empty(text) {
  return h('p', { class: 'empty', text });
}

export function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text);
}

// True while the user is typing into a field inside `container`: a redraw then would eat their input.
export function typing(container) {
  const el = document.activeElement;
  return Boolean(el && container.contains(el) && (el.tagName === 'TEXTAREA' || (el.tagName === 'INPUT' && el.type !== 'checkbox')));
}

// Who made an edit, by its replica id (SYNC.md): this phone, the server ("s"), or another phone.
export function replicaName(replica, mine) {
  if (replica === mine) return 'this phone';
  if (replica === 's') return 'the server';
  return `phone ${replica}`;
}

const SCREENS = { company: 'companies', contact: 'contacts', deal: 'deals', task: 'tasks' };

// The screen of a record, or null for a type without one (activities, approvals).
export function recordHref(type, id) {
  return SCREENS[type] ? `#/${SCREENS[type]}/${id}` : null;
}

// A screen's draw, which a refresh may call again before the last call has finished reading:
// only the latest call paints `el`, so a slow, stale draw never covers a newer one (an open form).
// With `unlessTyping` (a redraw the data asked for, not the user) it also gives way if the user
// has gone into a field of `el` while it read: replaced, the field would lose its focus and
// the words typed into it from then on.
export function drawer(el, paint) {
  let latest = 0;
  return async ({ unlessTyping = false } = {}) => {
    latest += 1;
    const mine = latest;
    await paint((...children) => {
      if (mine === latest && !(unlessTyping && typing(el))) clear(el, ...children);
    });
  };
}
