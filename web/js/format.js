// Times, durations, why sessions end, and shell words, as people read them (their locale,
// their time zone).

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relativeTime = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

/** "3 minutes ago", "yesterday"… */
export function ago(iso) {
  if (!iso) return 'never';
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (Math.abs(seconds) >= size) return relativeTime.format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

/** "45 s", "12 min", "2 h 05 min" between two ISO times (the second defaults to now). */
export function duration(startIso, endIso) {
  return seconds(Math.round(((endIso ? new Date(endIso) : new Date()) - new Date(startIso)) / 1000));
}

/** "45 s", "12 min", "2 h 05 min", "3 d 04 h": a number of seconds (an uptime, say). */
export function seconds(total) {
  const s = Math.max(0, Math.floor(total));
  const two = (n) => String(n).padStart(2, '0');
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${two(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86400)} d ${two(Math.floor((s % 86400) / 3600))} h`;
}

/** One word for a POSIX shell, quoted only when it needs to be. */
export function shellWord(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * Why a session ended, as a sentence's end: "This session has ended: …". `end` has the
 * relay's `reason` and, where known, the shell's exit `status`, who ended it (`by`) and the
 * `device` name.
 */
export function endReason({ reason, status, by, device }) {
  const connector = device ? `the connector on ${device}` : 'the device’s connector';
  switch (reason) {
    case 'exit': return Number.isInteger(status) ? `the shell exited with status ${status}` : 'the shell exited';
    case 'user_exit': return by ? `${by} ended it` : 'someone ended it';
    case 'timeout': return 'nobody had it open for the grace period (10 minutes unless the relay says otherwise)';
    case 'shutdown': return `${connector} was stopped, and the shell with it`;
    case 'connector_disconnected': return `${connector} went away and came back without this shell (it was killed or restarted)`;
    case 'device_removed': return 'the device was deleted or paired again';
    case 'access_revoked': return 'the access of the person who started it ended';
    case 'pty_error': return 'the device could not start a shell';
    default: return reason || 'ended';
  }
}
