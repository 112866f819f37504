// Conflicts: every field two replicas wrote at once, side by side; pick one or type a new value.
// Also "deleted by one, edited by another" (keep or delete), and changes the server refused.

import * as store from './store.js';
import { change, remove } from './sync.js';
import { conflicts, deleteConflict, visibleSibling, seen } from './sync-core.js';
import { SPECS } from './record-form.js';
import { h, clear, drawer, empty, field, fmtWhen, toLocalInput, fromLocalInput, replicaName, recordHref } from './ui.js';

function label(type, name) {
  return SPECS[type]?.find((s) => s.name === name)?.label || name.replace(/_/g, ' ');
}

function show(value) {
  if (value === null || value === undefined || value === '') return '(empty)';
  if (Array.isArray(value)) return value.length ? value.join(', ') : '(empty)';
  if (typeof value === 'object') return JSON.stringify(value);
  if (/^\d{4}-\d\d-\d\dT/.test(String(value))) return fmtWhen(value);
  return String(value);
}

function typed(type, name, text, example) {
  const spec = SPECS[type]?.find((s) => s.name === name);
  const t = text.trim();
  if (Array.isArray(example) || spec?.kind === 'list') return t ? t.split(',').map((x) => x.trim()).filter(Boolean) : [];
  if (spec?.kind === 'datetime') return fromLocalInput(t);
  if (typeof example === 'number' || spec?.kind === 'number') return t === '' ? null : Number(t);
  return t;
}

function title(entry) {
  return entry.v.name || entry.v.title || `${entry.type} ${entry.id.slice(0, 8)}`;
}

function fieldConflict(entry, name, siblings, mine) {
  const headingId = `c-${entry.id}-${name}`;
  const visibleOne = visibleSibling(siblings);
  const input = h('input', { type: /_at$/.test(name) ? 'datetime-local' : 'text', value: /_at$/.test(name) ? toLocalInput(visibleOne[0]) : show(visibleOne[0]).replace('(empty)', '') });
  return h('section', { class: 'conflict', 'aria-labelledby': headingId },
    h('h3', { id: headingId, text: label(entry.type, name) }),
    h('ul', { class: 'siblings' }, siblings.map((s) => h('li', { class: 'sibling' },
      h('p', { class: 'value', text: show(s[0]) }),
      h('p', { class: 'muted small', text: `by ${replicaName(s[1], mine)}, ${fmtWhen(new Date(s[3]).toISOString())}` }),
      h('button', { type: 'button', onclick: () => change(entry.type, entry.id, { [name]: s[0] }), 'aria-label': `Keep “${show(s[0])}” for ${label(entry.type, name)}` }, 'Keep this')))),
    h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); change(entry.type, entry.id, { [name]: typed(entry.type, name, input.value, visibleOne[0]) }); } },
      field(`Or type a new ${label(entry.type, name).toLowerCase()}`, input),
      h('button', { type: 'submit', class: 'secondary' }, 'Save this value')));
}

function deletionConflict(entry, mine) {
  const state = entry.state;
  const deleters = (state.fields.deleted || []).filter((s) => s[0] !== null);
  const vector = visibleSibling(state.fields.deleted)[0];
  const editors = new Set();
  for (const [name, sibs] of Object.entries(state.fields)) {
    if (name === 'deleted') continue;
    for (const s of sibs) if (!seen(vector, s[1], s[2])) editors.add(s[1]);
  }
  return h('section', { class: 'conflict' },
    h('p', {}, h('strong', { text: `Deleted by ${deleters.map((s) => replicaName(s[1], mine)).join(' and ')}, edited by ${[...editors].map((r) => replicaName(r, mine)).join(' and ')}.` }),
      ' Keep it with the edits, or delete it after all?'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => change(entry.type, entry.id, { deleted: null }) }, 'Keep it'),
      h('button', { type: 'button', class: 'danger', onclick: () => remove(entry.type, entry.id) }, 'Delete it')));
}

export async function render(main) {
  const body = h('div', { id: 'conflicts' });
  clear(main, h('h1', { text: 'Conflicts' }), body);
  const draw = drawer(body, async (paint) => {
    const [all, mine] = await Promise.all([store.flagged(), store.getMeta('replica')]);
    const clashes = all.filter((e) => e.flag === 1);
    const refused = all.filter((e) => e.held);
    paint(
      !clashes.length && !refused.length ? empty('Nothing to settle: every change agrees.') : null,
      clashes.map((entry) => {
        const id = `r-${entry.id}`;
        const fields = Object.entries(conflicts(entry.state)).filter(([name]) => name !== 'deleted');
        const href = recordHref(entry.type, entry.id);
        const link = href ? h('a', { href, text: 'open' }) : null;
        return h('article', { class: 'card', 'aria-labelledby': id, 'data-record': entry.id },
          h('h2', { id }, `${title(entry)} `, h('span', { class: 'muted small', text: `(${entry.type}) ` }), link),
          deleteConflict(entry.state) ? deletionConflict(entry, mine) : null,
          fields.map(([name, sibs]) => fieldConflict(entry, name, sibs, mine)));
      }),
      refused.length ? h('section', { 'aria-labelledby': 'refused' },
        h('h2', { id: 'refused', text: 'Refused by the server' }),
        h('ul', { class: 'list' }, refused.map((e) => h('li', { class: 'row' },
          h(recordHref(e.type, e.id) ? 'a' : 'span', { class: 'row-main', href: recordHref(e.type, e.id) || undefined },
            h('strong', { text: title(e) }),
            h('span', { class: 'error', text: (e.errors || []).map((x) => `${x.field}: ${x.message}`).join('; ') })))))) : null);
  });
  await draw();
  return { refresh: () => draw({ unlessTyping: true }) };
}
