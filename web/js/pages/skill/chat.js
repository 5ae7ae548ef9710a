// The chat with one node: the person's prompts and the node's answers, each answer growing
// token by token as the relay streams it. Enter sends (Shift+Enter starts a new line; on
// touch screens Enter is a new line), Stop abandons the answer. Nothing is stored anywhere:
// the conversation lasts as long as the page.
import { h } from '../../dom.js';
import { field } from '../../ui/form.js';
import { streamAnswer, sendAndStop } from './answer.js';

/** `node()` is the node's entry as it is now (its name may change). */
export function chat(node, signal) {
  const log = h('ol', { class: 'chat-log', role: 'log', 'aria-label': 'Conversation' });
  const send = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send');
  const stop = h('button', { type: 'button', class: 'btn' }, 'Stop');
  const form = h('form', { class: 'chat-form', 'aria-label': 'Prompt the node' },
    field({ label: 'Prompt', name: 'prompt', type: 'textarea', rows: 3, required: true, placeholder: 'Ask the node something…' }),
    h('div', { class: 'form-actions' }, stop, send));
  const prompt = form.elements.prompt;
  const run = sendAndStop(send, stop, signal);

  // Follow the answer as it grows, unless the person scrolled up to read something earlier.
  // Scroll events arrive a frame late, when more may have been added: the page's own scroll
  // (at `ours`) says nothing about the person's wish.
  let follow = true;
  let ours = -1;
  log.addEventListener('scroll', () => {
    if (log.scrollTop !== ours) follow = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  });
  const grow = () => {
    if (!follow || !log.clientHeight) return;
    log.scrollTop = log.scrollHeight;
    ours = log.scrollTop;
  };
  // Shown again (another node was chosen meanwhile) or resized, the log has lost its place.
  new ResizeObserver(grow).observe(log);
  const message = (who, mine, body) => h('li', { class: mine ? 'msg msg-mine' : 'msg' }, h('div', { class: 'msg-who' }, who), body);

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = prompt.value;
    if (send.disabled || !text.trim()) return;
    prompt.value = '';
    const answer = h('div', { class: 'msg-text' });
    log.append(message('You', true, h('div', { class: 'msg-text' }, text)), message(node().name, false, answer));
    follow = true;
    grow();
    run((s) => streamAnswer(answer, node().device.id, { type: 'prompt', data: { prompt: text } }, { signal: s, onGrow: grow }));
  });
  // On touch screens there is no Shift+Enter: Enter is a new line there, and Send sends.
  const enterSends = !matchMedia('(pointer: coarse)').matches;
  prompt.addEventListener('keydown', (e) => {
    if (enterSends && e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  return h('section', { class: 'card', 'aria-label': 'Chat' },
    h('h3', null, 'Chat'),
    h('p', { class: 'muted' }, 'Prompts and answers only pass through the relay’s memory; neither is stored.'),
    log,
    form);
}
