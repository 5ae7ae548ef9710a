// A page that opens a running session gets its history replayed. Queries in that history
// (cursor position, device attributes, modes, colours) were answered by the page that showed
// them first; answered again, the replies would reach the shell as typed garbage. While xterm
// parses history, this swallows those queries; live output is answered as usual.

// The queries xterm answers (CSI, then DCS and OSC below), by parser identifier.
const CSI_QUERIES = [
  { final: 'n' }, { prefix: '?', final: 'n' }, // device status, cursor position
  { final: 'c' }, { prefix: '>', final: 'c' }, // device attributes
  { intermediates: '$', final: 'p' }, { prefix: '?', intermediates: '$', final: 'p' }, // modes
  { prefix: '>', final: 'q' }, { prefix: '?', final: 'u' }, // version, keyboard protocol
];
const COLOUR_QUERIES = [4, 10, 11, 12];

export function historyGuard(term) {
  // One flag per write xterm has not finished parsing, oldest first: xterm parses writes in
  // order and calls each one back before starting the next.
  const pending = [];
  const replaying = () => pending[0] === true;
  for (const id of CSI_QUERIES) term.parser.registerCsiHandler(id, replaying);
  term.parser.registerDcsHandler({ intermediates: '$', final: 'q' }, replaying);
  for (const n of COLOUR_QUERIES) term.parser.registerOscHandler(n, (data) => replaying() && data.includes('?'));
  return {
    /** Call for every write, in order; returns the callback for when xterm has parsed it. */
    track(history) {
      pending.push(history);
      return () => pending.shift();
    },
  };
}
