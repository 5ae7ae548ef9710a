// Flow control between the relay and xterm.js, as ttyd does it. xterm parses output
// asynchronously and calls back when a write is done; when too much is waiting (more than 10
// writes or 256 KiB), the page asks the relay to pause this session, and it resumes once
// xterm has caught up (fewer than 4 writes and under 64 KiB). The relay then stops reading
// the PTY, so the program writing (say, `yes`) blocks instead of flooding and freezing the tab.

const HIGH_WRITES = 10;
const HIGH_BYTES = 256 * 1024;
const LOW_WRITES = 4;
const LOW_BYTES = 64 * 1024;

export function flowWriter(term, { pause, resume }) {
  let writes = 0;
  let bytes = 0;
  let paused = false;
  return {
    /** `parsed` (optional) is called once xterm has processed `data`. */
    write(data, parsed) {
      writes++;
      bytes += data.length;
      term.write(data, () => {
        parsed?.();
        writes--;
        bytes -= data.length;
        if (paused && writes < LOW_WRITES && bytes < LOW_BYTES) {
          paused = false;
          resume();
        }
      });
      if (!paused && (writes > HIGH_WRITES || bytes > HIGH_BYTES)) {
        paused = true;
        pause();
      }
    },
    /** True while the relay has been asked to hold output back. */
    get paused() {
      return paused;
    },
  };
}
