// One form for creating and editing any record: labelled fields, the server's refusals shown on them.

import { canonicalJson } from './sync-core.js';
import { change } from './sync.js';
import { h, field, toLocalInput, fromLocalInput, cap } from './ui.js';

export const SPECS = {
  contact: [
    { name: 'name', label: 'Name', required: true },
    { name: 'title', label: 'Job title' },
    { name: 'company', label: 'Company', kind: 'ref', ref: 'company' },
    { name: 'phones', label: 'Phone numbers', kind: 'list', hint: 'Separate several with commas', inputmode: 'tel' },
    { name: 'emails', label: 'E-mail addresses', kind: 'list', hint: 'Separate several with commas', inputmode: 'email' },
    { name: 'address', label: 'Address', kind: 'textarea' },
    { name: 'tags', label: 'Tags', kind: 'list', hint: 'Separate with commas' },
    { name: 'notes', label: 'Notes', kind: 'textarea' },
  ],
  company: [
    { name: 'name', label: 'Name', required: true },
    { name: 'phone', label: 'Phone', inputmode: 'tel' },
    { name: 'email', label: 'E-mail', inputmode: 'email' },
    { name: 'website', label: 'Website', inputmode: 'url' },
    { name: 'address', label: 'Address', kind: 'textarea' },
    { name: 'notes', label: 'Notes', kind: 'textarea' },
  ],
  deal: [
    { name: 'title', label: 'Title', required: true },
    { name: 'company', label: 'Company', kind: 'ref', ref: 'company' },
    { name: 'stage', label: 'Stage', kind: 'select', options: ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'] },
    { name: 'amount', label: 'Amount', kind: 'money', inputmode: 'decimal' },
    { name: 'currency', label: 'Currency', hint: 'Three letters, e.g. EUR' },
    { name: 'discount', label: 'Discount (%)', kind: 'money', inputmode: 'decimal' },
    { name: 'expected_close', label: 'Expected close', kind: 'date' },
    { name: 'probability', label: 'Probability (%)', kind: 'number' },
    { name: 'notes', label: 'Notes', kind: 'textarea' },
  ],
  task: [
    { name: 'title', label: 'What to do', required: true },
    { name: 'due_at', label: 'Due', kind: 'datetime' },
    { name: 'remind_at', label: 'Remind me at', kind: 'datetime' },
    { name: 'notes', label: 'Notes', kind: 'textarea' },
  ],
};

// What a value looks like in an input, and what the input's text means as a value.
function shown(spec, value) {
  if (value === null || value === undefined) return '';
  if (spec.kind === 'list') return value.join(', ');
  if (spec.kind === 'datetime') return toLocalInput(value);
  return String(value);
}

function parsed(spec, text) {
  const t = text.trim();
  if (spec.kind === 'list') return t ? t.split(/[,\n]/).map((x) => x.trim()).filter(Boolean) : [];
  if (spec.kind === 'datetime') return fromLocalInput(t);
  if (spec.kind === 'number') return t === '' ? null : Number(t);
  if (spec.kind === 'money' || spec.kind === 'date' || spec.kind === 'ref') return t === '' ? null : t;
  return t;
}

function control(spec, value, refs) {
  const attrs = { name: spec.name, inputmode: spec.inputmode, required: spec.required };
  if (spec.kind === 'textarea') return h('textarea', { ...attrs, rows: 3, text: shown(spec, value) });
  if (spec.kind === 'select' || spec.kind === 'ref') {
    const options = spec.kind === 'ref'
      ? [['', '— none —'], ...(refs[spec.ref] || []).map((e) => [e.id, e.v.name || e.v.title])]
      : spec.options.map((o) => [o, cap(o)]);
    return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === (value ?? ''), text: label })));
  }
  const type = spec.kind === 'date' ? 'date' : spec.kind === 'datetime' ? 'datetime-local' : 'text';
  return h('input', { ...attrs, type, value: shown(spec, value), autocomplete: 'off' });
}

/**
 * A form for `type`: a new record when `entry` is null. `extra` is written with a new record
 * (team, owner, ...); `onSaved(id)` runs after the local edit is stored. `guard({ changes, isNew })`
 * may stop a save: it answers null, or `{ fields, panel }`: the fields to mark and what to show instead.
 */
export function recordForm({ type, id, entry, refs = {}, extra = {}, defaults = {}, onSaved, onCancel, submitLabel = 'Save', guard }) {
  const specs = SPECS[type];
  const v = entry?.v || defaults;
  const errors = new Map((entry?.errors || []).map((e) => [e.field, e.message]));
  const inputs = new Map();
  const rows = specs.map((spec) => {
    const input = control(spec, v[spec.name], refs);
    inputs.set(spec.name, input);
    const row = field(spec.label + (spec.required ? ' (required)' : ''), input, spec.hint);
    if (errors.has(spec.name)) {
      const msgId = `${input.id}-error`;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), msgId].filter(Boolean).join(' '));
      row.append(h('p', { class: 'error field-error', id: msgId, text: `The server refused this: ${errors.get(spec.name)}` }));
    }
    return row;
  });
  const unplaced = [...errors].filter(([name]) => !inputs.has(name));
  const problem = h('p', { class: 'error', role: 'alert' });
  const stopped = h('div', { class: 'form-stopped' });
  const form = h(
    'form',
    { class: 'stack record-form', novalidate: true },
    unplaced.map(([name, message]) => h('p', { class: 'error', text: `${name}: ${message}` })),
    rows,
    problem,
    stopped,
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, submitLabel),
      onCancel ? h('button', { type: 'button', class: 'secondary', onclick: onCancel }, 'Cancel') : null),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const changes = {};
    for (const spec of specs) {
      const value = parsed(spec, inputs.get(spec.name).value);
      if (spec.required && !value) {
        problem.textContent = `${spec.label} is required.`;
        inputs.get(spec.name).focus();
        return;
      }
      const before = v[spec.name] ?? (spec.kind === 'list' ? [] : spec.kind ? null : '');
      if (!entry && (value === null || value === '' || (Array.isArray(value) && !value.length))) continue;
      if (!entry || canonicalJson(value) !== canonicalJson(before)) changes[spec.name] = value;
    }
    // A held change is sent again as it stands once the user saves, even unchanged.
    if (!Object.keys(changes).length && !entry?.held) {
      onSaved?.(id);
      return;
    }
    if (guard) {
      for (const [name, input] of inputs) {
        if (!input.dataset.guarded) continue;
        delete input.dataset.guarded;
        if (!errors.has(name)) input.removeAttribute('aria-invalid');
      }
      stopped.replaceChildren();
      const stop = await guard({ changes: { ...changes }, isNew: !entry });
      if (stop) {
        for (const name of stop.fields || []) {
          const input = inputs.get(name);
          if (input) { input.setAttribute('aria-invalid', 'true'); input.dataset.guarded = '1'; }
        }
        stopped.replaceChildren(stop.panel);
        return;
      }
    }
    if (!entry) Object.assign(changes, extra);
    try {
      if (!Object.keys(changes).length) changes[specs[0].name] = v[specs[0].name];
      await change(type, id, changes);
      onSaved?.(id);
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  return form;
}
