// Decisions and controls: the same routes the CLI posts to. A refusal (409) is shown as the API words it.
import { ApiError, post } from './api.js';
import { h } from './dom.js';
import * as f from './format.js';
import { enc, notice } from './ui.js';

async function decide(id, kind, comment, out, buttons) {
  for (const b of buttons) b.disabled = true;
  out.className = 'decision-result';
  out.textContent = kind === 'approve' ? 'Approving…' : 'Rejecting…';
  try {
    const r = await post(`/api/rollbacks/${enc(id)}/${kind}`, comment ? { comment } : {});
    const text = `${kind === 'approve' ? 'Approved' : 'Rejected'} ${r.prompt ?? ''} (${id}) as ${r.decided_by ?? r.decision?.by ?? 'you'}: now ${r.status.replace(/_/g, ' ')}`;
    out.textContent = text;
    notice(text);
  } catch (e) {
    const text = e instanceof ApiError && e.status === 409 ? `Refused: ${e.detail}` : `${e.title ?? 'Failed'}: ${e.detail ?? e.message}`;
    out.textContent = text;
    out.classList.add('error');
    notice(text, 'error');
    for (const b of buttons) b.disabled = false;
  }
}

/** The countdown to a decision deadline, with Approve / Reject. */
export function decisionBox(r) {
  const comment = h('input', {
    type: 'text',
    class: 'comment',
    placeholder: 'comment (optional)',
    'aria-label': 'comment',
    maxlength: 500,
  });
  const out = h('p', { class: 'decision-result', role: 'status' });
  const approve = h('button', { type: 'button', class: 'approve' }, 'Approve');
  const reject = h('button', { type: 'button', class: 'reject' }, 'Reject');
  const both = [approve, reject];
  approve.addEventListener('click', () => void decide(r.rollback_id, 'approve', comment.value.trim(), out, both));
  reject.addEventListener('click', () => void decide(r.rollback_id, 'reject', comment.value.trim(), out, both));
  return h(
    'div',
    { class: 'decision' },
    h(
      'p',
      { class: 'deadline' },
      r.deadline
        ? [
            h('span', { class: 'countdown', dataset: { deadline: r.deadline } }, f.countdown(r.deadline) ?? 'deadline passed'),
            ` — decide by ${f.clock(r.deadline)}; then: ${r.default_action ?? 'escalate'}`,
          ]
        : 'no deadline',
    ),
    h('div', { class: 'actions' }, comment, approve, reject),
    out,
  );
}

/** Pause, resume or abort a gradual rollback: the same routes as the CLI; a refusal shows the API's words. */
export function controlBox(r) {
  const out = h('p', { class: 'decision-result', role: 'status' });
  const buttons = ['pause', 'resume', 'abort'].map((c) => h('button', { type: 'button', class: c }, c[0].toUpperCase() + c.slice(1)));
  buttons.forEach((b, i) =>
    b.addEventListener('click', async () => {
      const c = ['pause', 'resume', 'abort'][i];
      for (const x of buttons) x.disabled = true;
      out.className = 'decision-result';
      try {
        const v = await post(`/api/rollbacks/${enc(r.rollback_id)}/${c}`);
        out.textContent = `${c}: now ${v.status.replace(/_/g, ' ')}`;
        notice(`${r.prompt} (${r.rollback_id}): ${out.textContent}`);
      } catch (e) {
        out.textContent =
          e instanceof ApiError && e.status === 409 ? `Refused: ${e.detail}` : `${e.title ?? 'Failed'}: ${e.detail ?? e.message}`;
        out.classList.add('error');
        notice(out.textContent, 'error');
      } finally {
        for (const x of buttons) x.disabled = false;
      }
    }),
  );
  return h('div', { class: 'decision' }, h('div', { class: 'actions' }, buttons), out);
}
