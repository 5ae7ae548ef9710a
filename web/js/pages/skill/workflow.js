// Starting one of a node's workflows: its id and parameters as a JSON object (checked here
// first, so a typo is pointed out before anything is sent), and its output streamed below
// the form like a chat answer.
import { h } from '../../dom.js';
import { field, onSubmit } from '../../ui/form.js';
import { streamAnswer, sendAndStop } from './answer.js';

export function workflow(node, signal) {
  const start = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Run workflow');
  const stop = h('button', { type: 'button', class: 'btn' }, 'Stop');
  const output = h('div', { class: 'workflow-output', role: 'log', 'aria-label': 'Workflow output', hidden: true });
  const form = h('form', { class: 'card', 'aria-label': 'Run a workflow' },
    h('h3', null, 'Run a workflow'),
    field({ label: 'Workflow ID', name: 'workflow_id', required: true, maxlength: 128, autocomplete: 'off', spellcheck: 'false', placeholder: 'daily-report' }),
    field({
      label: 'Parameters', name: 'params', type: 'textarea', rows: 4, value: '{}', spellcheck: 'false', class: 'mono',
      hint: 'A JSON object, passed to the workflow as it is: {"day": "monday"}.',
    }),
    h('div', { class: 'form-actions' }, stop, start),
    output);
  const run = sendAndStop(start, stop, signal);

  onSubmit(form, async (values) => {
    const params = parseParams(values.params, form.elements.params);
    output.hidden = false;
    const command = { type: 'workflow', data: { workflow_id: values.workflow_id.trim(), params } };
    await run((s) => streamAnswer(output, node().device.id, command, { signal: s }));
  });
  return form;
}

/** The parameters as an object; throws a sentence saying what is wrong (and marks the box). */
function parseParams(text, box) {
  box.removeAttribute('aria-invalid');
  let value;
  try {
    value = text.trim() ? JSON.parse(text) : {};
  } catch (e) {
    box.setAttribute('aria-invalid', 'true');
    throw new Error(`The parameters are not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    box.setAttribute('aria-invalid', 'true');
    throw new Error('The parameters must be a JSON object, such as {"day": "monday"}.');
  }
  return value;
}
