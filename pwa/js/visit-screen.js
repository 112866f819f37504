// Log a visit: who, where (GPS position and accuracy when the phone has a fix), how it went, what next.

import * as store from './store.js';
import { navigate } from './app.js';
import { change, newId } from './sync.js';
import { searchIndex, search } from './contacts-screen.js';
import { h, clear, field, toLocalInput, fromLocalInput, toast } from './ui.js';
import { offerReminders } from './reminder-offer.js';

const OUTCOMES = ['Interested', 'Order placed', 'Follow-up needed', 'Not interested', 'Nobody there'];

function locate(onFix, onFail) {
  if (!('geolocation' in navigator)) {
    onFail('This phone cannot tell its position; the visit is saved without one.');
    return;
  }
  navigator.geolocation.getCurrentPosition(
    (p) => onFix(p.coords),
    (e) => onFail(e.code === 1 ? 'Location is not allowed for Fieldbook; the visit is saved without a position.' : 'No position yet; the visit is saved without one.'),
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
  );
}

export async function render(main, { params }, ctx) {
  const [contacts, companies] = await Promise.all([store.listEntries('contact'), store.listEntries('company')]);
  const index = searchIndex(contacts, companies);
  let chosen = params.contact ? contacts.find((c) => c.id === params.contact) : null;
  let position = null;

  const who = h('input', { type: 'search', id: 'visit-contact', autocomplete: 'off', value: chosen ? chosen.v.name : '' });
  const suggestions = h('ul', { class: 'suggestions', id: 'visit-suggestions' });
  const whoNote = h('p', { class: 'hint', id: 'visit-contact-chosen', 'aria-live': 'polite' });
  const when = h('input', { type: 'datetime-local', id: 'visit-when', value: toLocalInput(new Date().toISOString()) });
  const outcome = h('select', { id: 'visit-outcome' }, h('option', { value: '', text: '— choose —' }), OUTCOMES.map((o) => h('option', { value: o, text: o })));
  const notes = h('textarea', { id: 'visit-notes', rows: 4 });
  const duration = h('input', { type: 'number', id: 'visit-duration', inputmode: 'numeric', min: 0, max: 1440 });
  const where = h('p', { class: 'muted', id: 'visit-position', 'aria-live': 'polite', text: 'Finding your position…' });
  const follow = h('input', { type: 'checkbox', id: 'visit-follow' });
  const followTitle = h('input', { type: 'text', id: 'visit-follow-title' });
  const followDue = h('input', { type: 'datetime-local', id: 'visit-follow-due' });
  const followRemind = h('input', { type: 'datetime-local', id: 'visit-follow-remind' });
  const followBox = h('div', { class: 'stack', hidden: true },
    field('Follow-up', followTitle), field('Due', followDue), field('Remind me at', followRemind));
  const problem = h('p', { class: 'error', role: 'alert' });

  const showChosen = () => {
    const company = chosen && companies.find((c) => c.id === chosen.v.company);
    whoNote.textContent = chosen ? `Visiting ${chosen.v.name}${company ? ` at ${company.v.name}` : ''}.` : 'No contact chosen: the visit is logged on its own.';
    if (chosen && !followTitle.value) followTitle.value = `Follow up with ${chosen.v.name}`;
  };
  who.addEventListener('input', () => {
    chosen = null;
    const hits = who.value.trim() ? search(index, who.value).slice(0, 6) : [];
    clear(suggestions, hits.map((row) => h('li', {}, h('button', {
      type: 'button', class: 'secondary suggestion',
      onclick: () => { chosen = row.e; who.value = row.e.v.name; clear(suggestions); showChosen(); },
    }, `${row.e.v.name}${row.company ? ` · ${row.company}` : ''}`))));
    showChosen();
  });
  follow.addEventListener('change', () => {
    followBox.hidden = !follow.checked;
    if (follow.checked && !followDue.value) {
      const d = new Date(Date.now() + 7 * 86400000);
      d.setHours(9, 0, 0, 0);
      followDue.value = toLocalInput(d.toISOString());
      followRemind.value = followDue.value;
    }
  });
  showChosen();
  locate(
    (c) => { position = c; where.textContent = `Position found, accurate to ${Math.round(c.accuracy)} m.`; },
    (message) => { where.textContent = message; },
  );

  const form = h('form', { class: 'stack', id: 'visit-form', novalidate: true },
    field('Contact', who, 'Type a name, company or phone number'), suggestions, whoNote,
    field('When', when), where,
    field('Outcome', outcome), field('Notes', notes), field('Duration (minutes)', duration),
    h('div', { class: 'check' }, follow, h('label', { for: 'visit-follow', text: 'Add a follow-up task' })), followBox,
    problem,
    h('button', { type: 'submit' }, 'Save visit'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const minutes = duration.value === '' ? null : Number(duration.value);
    if (minutes !== null && !(Number.isInteger(minutes) && minutes >= 0 && minutes <= 1440)) {
      problem.textContent = 'Duration must be a whole number of minutes, up to 1440.';
      duration.focus();
      return;
    }
    if (follow.checked && !followTitle.value.trim()) {
      problem.textContent = 'Give the follow-up task a title.';
      followTitle.focus();
      return;
    }
    const id = newId();
    const visit = {
      kind: 'visit',
      occurred_at: fromLocalInput(when.value) || new Date().toISOString(),
      owner: ctx.me.id,
      notes: notes.value.trim(),
      outcome: outcome.value,
    };
    if (chosen) {
      visit.contact = chosen.id;
      if (chosen.v.company) visit.company = chosen.v.company;
    } else if (params.company) visit.company = params.company;
    if (params.deal) visit.deal = params.deal;
    if (minutes !== null) visit.duration = minutes;
    if (position) Object.assign(visit, { latitude: position.latitude, longitude: position.longitude, accuracy: Math.round(position.accuracy * 10) / 10 });
    try {
      await change('activity', id, visit);
      if (follow.checked) {
        const task = { title: followTitle.value.trim(), owner: ctx.me.id, assignee: ctx.me.id, due_at: fromLocalInput(followDue.value), remind_at: fromLocalInput(followRemind.value) };
        if (chosen) Object.assign(task, { related_type: 'contact', related_id: chosen.id });
        await change('task', newId(), task);
        offerReminders();
      }
    } catch (error) {
      problem.textContent = error.message;
      return;
    }
    toast(navigator.onLine ? 'Visit saved.' : 'Visit saved on this phone; it is sent when you have a signal.');
    navigate(chosen ? `#/contacts/${chosen.id}` : '#/today');
  });

  clear(main, h('h1', { text: 'Log visit' }), form);
  return { focus: () => (chosen ? outcome : who).focus() };
}
