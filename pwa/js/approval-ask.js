// Asking a manager for approval: the request is this phone's own edit, so it works offline too.

import * as store from './store.js';
import { change, newId } from './sync.js';
import { dealValues, describeChanges } from './approval-status.js';
import { h, field } from './ui.js';

/**
 * Creates the request for `changes` to the deal as it stands on this phone now: its version
 * vector already counts this phone's unsent edits, so the server can tell later whether
 * anything changed after the request. Returns the new approval's id.
 */
export async function askApproval({ dealId, changes, reason, me }) {
  const deal = await store.getEntry('deal', dealId);
  if (!deal || deal.deleted) throw new Error('This deal is not on this phone.');
  const v = dealValues(deal.v);
  const id = newId();
  await change('approval', id, {
    deal: dealId,
    owner: me.id,
    reason,
    status: 'pending',
    deal_vv: { ...deal.state.vv },
    changes: { ...changes },
    snapshot: { stage: v.stage, amount: v.amount, currency: v.currency, discount: v.discount, expected_close: v.expected_close },
  });
  return id;
}

let panels = 0;

/**
 * The "Ask for approval" panel: what is asked, a reason, and the button. `messages` are the
 * rules the change broke; `before` runs first (saving the parts of an edit the rules allow);
 * `onAsked(id)` after the request is stored.
 */
export function askPanel({ dealId, changes = {}, messages = [], me, currency, reason = '', before, onAsked, onCancel, onReason, level = 2 }) {
  panels += 1;
  const headingId = `ask-heading-${panels}`;
  const text = h('textarea', { name: 'reason', rows: 3, text: reason });
  if (onReason) text.addEventListener('input', () => onReason(text.value));
  const problem = h('p', { class: 'error', role: 'alert' });
  const asked = describeChanges(changes, currency);
  const button = h('button', { type: 'button', class: 'ask-button', onclick: async () => {
    if (!text.value.trim()) {
      problem.textContent = 'Give your manager a reason.';
      text.setAttribute('aria-invalid', 'true');
      text.focus();
      return;
    }
    button.disabled = true;
    try {
      await before?.();
      const id = await askApproval({ dealId, changes, reason: text.value.trim(), me });
      onAsked?.(id);
    } catch (error) {
      problem.textContent = error.message;
      button.disabled = false;
    }
  } }, 'Ask for approval');
  return h('section', { class: 'notice warn ask-panel', 'aria-labelledby': headingId },
    h(`h${level}`, { id: headingId, text: 'Ask for approval' }),
    messages.length ? h('div', { role: 'alert' }, messages.map((m) => h('p', { class: 'error rule-message', text: cap1(m) }))) : null,
    h('p', { text: asked ? `You ask to set ${asked}. Your manager decides; once approved, the change is made for you.` : 'Your manager sees the deal as it is now and your reason.' }),
    field('Reason for your manager (required)', text, 'Saved on this phone and sent with the next sync, signal or not.'),
    problem,
    h('div', { class: 'actions wrap' }, button,
      onCancel ? h('button', { type: 'button', class: 'secondary', onclick: onCancel }, 'Cancel') : null));
}

function cap1(text) {
  return text ? text[0].toUpperCase() + text.slice(1) + (text.endsWith('.') ? '' : '.') : '';
}
