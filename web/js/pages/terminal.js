// `/terminal/:deviceId/:sessionId`: a live terminal. Wires the pieces in js/terminal/
// together — xterm (xterm.js), the relay link (link.js), flow control (flow.js), replayed
// history (history.js), search, the phone keys — and runs the toolbar and banners that say
// what is going on: connection state, latency, size, who else is here, device offline,
// session ended, access ended. Someone else's session is joined only after asking.
import { h, replace } from '../dom.js';
import { get, post, seg } from '../api.js';
import * as events from '../events.js';
import { openTerminal } from '../connect.js';
import { currentUser } from '../auth.js';
import { endReason } from '../format.js';
import { createTerminal, MissingAssets } from '../terminal/xterm.js';
import { SessionLink } from '../terminal/link.js';
import { flowWriter } from '../terminal/flow.js';
import { historyGuard } from '../terminal/history.js';
import { keysBar } from '../terminal/keys-bar.js';
import { searchBar } from '../terminal/search-bar.js';
import { copyText, codeBlock } from '../ui/copy.js';
import { confirmDialog } from '../ui/dialog.js';
import { statusBadge, setStatus } from '../ui/status.js';
import { toast, toastError } from '../ui/toast.js';

export const title = 'Terminal';

// Error frames that a close code explains better; the link handles those.
const CLOSING_ERRORS = new Set(['auth_failed', 'session_invalid', 'connector_offline', 'auth_required', 'access_revoked', 'join_required']);

export async function render(main, { params, signal }) {
  const { deviceId, sessionId } = params;
  const host = h('div', { class: 'term-host' });
  const state = statusBadge('connecting', 'Connecting…');
  const latency = h('span', { class: 'term-meta optional', title: 'Round trip to the relay' });
  const size = h('span', { class: 'term-meta', title: 'Columns × rows' });
  const company = h('span', { class: 'term-meta term-company', role: 'status', 'aria-live': 'polite', hidden: true });
  const banner = h('div', { class: 'term-banner', hidden: true });
  const name = h('strong', null, 'Terminal');
  const back = h('a', { class: 'back', href: '/dashboard', 'aria-label': 'Back to the dashboard' }, '←');
  const actions = h('div', { class: 'term-actions' });
  const page = h('div', { class: 'term-page' },
    h('div', { class: 'term-toolbar' }, h('div', { class: 'term-title' }, back, name, state), company, latency, size, actions),
    banner,
    host);
  replace(main, page);

  const terminal = createTerminal(host);
  signal.addEventListener('abort', () => terminal.then(({ term }) => term.dispose(), () => {}), { once: true });
  let device;
  let made;
  try {
    [device, made] = await Promise.all([get(`/api/v1/devices/${seg(deviceId)}`, { signal }), terminal]);
  } catch (e) {
    if (!(e instanceof MissingAssets)) throw e;
    setStatus(state, 'failed', 'Unavailable');
    replace(host, h('div', { class: 'term-message' },
      h('h1', null, 'The terminal is not installed on this relay'),
      h('p', { class: 'muted' }, e.message),
      codeBlock('scripts/web-assets\ncargo build --release -p privaclaw-relay')));
    return;
  }
  const { term, fit, search } = made;
  name.textContent = device.name;
  document.title = `${device.name} — PrivaClaw`;
  back.href = `/project/${seg(device.project_id)}`;
  back.setAttribute('aria-label', 'Back to the project');

  // --- banners -------------------------------------------------------------------------
  let deviceOnline = device.status === 'online';
  let bannerFor = null;
  const showBanner = (kind, reason, text, ...buttons) => {
    bannerFor = reason;
    banner.className = `term-banner banner banner-${kind}`;
    replace(banner, h('span', { class: 'banner-text', role: 'status' }, text), buttons);
    banner.hidden = false;
  };
  const hideBanner = (reason) => {
    if (bannerFor !== reason) return;
    bannerFor = null;
    banner.hidden = true;
  };

  // --- toolbar buttons that the connection state enables and disables ------------------------
  const tool = (label, onclick, hint, optional) => h('button', {
    type: 'button', class: `btn btn-sm btn-ghost ${optional ? 'optional' : ''}`, title: hint, onclick,
  }, label);
  const reconnectButton = tool('Reconnect', () => link.connect(), 'Connect again now');
  const endButton = tool('End session', async () => {
    const ended = await confirmDialog({
      title: 'End this session?',
      message: `The shell on ${device.name} is closed, with everything running in it.`,
      confirmLabel: 'End session',
      confirm: () => post('/functions/v1/end-session', { session_id: sessionId }),
    });
    // The relay tells the socket too; if ours is down, say it here.
    if (ended && !link.stopped) link.finish('ended', { reason: 'user_exit', by: currentUser()?.email });
  }, 'Close the shell for good');

  // --- the link to the relay -------------------------------------------------------------
  let countdown = 0;
  let link = null;
  const writer = flowWriter(term, { pause: () => link.pause(), resume: () => link.resume() });
  const guard = historyGuard(term);
  const showState = (s, detail = {}) => {
    clearInterval(countdown);
    if (s === 'connecting') setStatus(state, 'connecting', 'Connecting…');
    if (s === 'connected') {
      hideBanner('restarting');
      if (deviceOnline) setStatus(state, 'connected', 'Connected');
      else setStatus(state, 'waiting', 'Device offline');
    }
    if (s === 'restarting') {
      showBanner('warn', 'restarting', 'The relay is restarting. This page reconnects by itself; the shell keeps running on the device meanwhile.');
    }
    if (s === 'waiting') {
      const tick = () => setStatus(state, 'waiting', `Reconnecting in ${Math.max(0, Math.ceil((detail.at - Date.now()) / 1000))} s`);
      tick();
      countdown = setInterval(tick, 500);
    }
    if (s === 'ended' || s === 'failed') {
      setStatus(state, s, s === 'ended' ? 'Ended' : 'Disconnected');
      latency.textContent = '';
      term.options.disableStdin = true;
      term.options.cursorBlink = false;
      reconnectButton.disabled = true;
      endButton.disabled = true;
    }
    if (s === 'ended') {
      const again = h('button', { type: 'button', class: 'btn btn-sm btn-primary', disabled: !deviceOnline, onclick: (e) => openTerminal(deviceId, e.currentTarget) }, 'Start a new session');
      const text = detail.reason === 'unavailable'
        ? 'This session is not available: it has ended, or its device is not in one of your projects.'
        : `This session has ended: ${endReason({ ...detail, device: device.name })}.`;
      showBanner('danger', 'ended', text, again,
        h('a', { class: 'btn btn-sm', href: back.getAttribute('href') }, 'Back'));
    }
    if (s === 'failed' && detail.code === 'access_revoked') {
      showBanner('danger', 'failed', detail.message, h('a', { class: 'btn btn-sm', href: '/projects' }, 'Your projects'));
    } else if (s === 'failed') {
      showBanner('danger', 'failed', detail.message, h('a', { class: 'btn btn-sm', href: `/auth?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'));
    }
    if (s === 'join') {
      setStatus(state, 'waiting', 'Not joined');
      showBanner('warn', 'join', detail.message,
        h('button', { type: 'button', class: 'btn btn-sm btn-primary', onclick: () => { hideBanner('join'); link.join(); term.focus(); } }, 'Join session'),
        h('a', { class: 'btn btn-sm', href: back.getAttribute('href') }, 'Back'));
    }
  };
  // Who else is at this terminal: a status line, never terminal output. After a reconnect the
  // relay names everyone again; only newcomers get a toast.
  const others = new Map();
  let known = new Map();
  const showCompany = () => {
    company.hidden = others.size === 0;
    company.textContent = others.size ? `With you: ${[...others.values()].join(', ')}` : '';
  };
  const showDevice = (status) => {
    deviceOnline = status === 'online';
    if (bannerFor === 'ended') {
      banner.querySelector('.btn-primary').disabled = !deviceOnline;
      return;
    }
    if (deviceOnline) {
      hideBanner('offline');
      if (link.authed) setStatus(state, 'connected', 'Connected');
      else if (state.dataset.status === 'waiting') link.connect();
    } else {
      if (link.authed) setStatus(state, 'waiting', 'Device offline');
      showBanner('warn', 'offline', `${device.name} is offline. If its connector comes back with this shell (within 10 minutes), the session carries on here; if the connector was stopped or killed, the shell is gone and the session ends.`);
    }
  };
  link = new SessionLink({
    sessionId,
    deviceId,
    size: () => ({ cols: term.cols, rows: term.rows }),
    on: {
      state: showState,
      output: (bytes, history) => writer.write(bytes, guard.track(history)),
      latency: (ms) => { latency.textContent = `${ms} ms`; },
      device: showDevice,
      dropped: (n) => toast(`${n} bytes of output were lost while disconnected.`, { kind: 'warn' }),
      error: (d) => {
        // The offline banner already says input cannot reach the device.
        if (CLOSING_ERRORS.has(d.code) || (d.code === 'device_offline' && !deviceOnline)) return;
        toast(d.message, { kind: d.code === 'device_offline' || d.code === 'busy' ? 'warn' : 'error' });
      },
      viewer: (joined, who) => {
        if (joined === others.has(who.user_id)) return;
        if (joined) others.set(who.user_id, who.email);
        else others.delete(who.user_id);
        showCompany();
        if (joined && known.has(who.user_id)) return;
        toast(`${who.email} ${joined ? 'joined' : 'left'} this session.`, { kind: 'warn' });
      },
      authOk: (d) => {
        known = new Map(others);
        others.clear();
        showCompany();
        // A new socket starts unpaused on the relay; xterm may still be behind.
        if (writer.paused) link.pause();
        // The PTY kept its old size while we were away.
        if (d.resumed) link.resize(term.cols, term.rows);
      },
    },
  });
  events.on('device_status', (e) => e.device_id === deviceId && showDevice(e.status), { signal });
  addEventListener('online', () => state.dataset.status === 'waiting' && link.connect(), { signal });

  // --- input, size, clipboard, search ------------------------------------------------------
  const keys = matchMedia('(pointer: coarse)').matches ? keysBar(term, (data) => link.input(data)) : null;
  if (keys) page.append(keys.element);
  // Over the terminal, not above it: opening search must not resize the PTY (nor, with it,
  // clear the selection).
  const finder = searchBar(term, search);
  host.append(finder.element);
  term.onData((data) => link.input(keys ? keys.transform(data) : data));
  term.onBinary((data) => link.inputBinary(data));
  size.textContent = `${term.cols}×${term.rows}`;
  term.onResize(({ cols, rows }) => {
    size.textContent = `${cols}×${rows}`;
    link.resize(cols, rows);
  });
  let frame = 0;
  const resized = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => fit.fit());
  });
  resized.observe(host);

  const copy = async () => {
    const text = term.getSelection();
    if (!text) {
      toast('Select some text in the terminal first.');
      return;
    }
    await copyText(text).then(() => toast('Copied.', { kind: 'ok', timeout: 1500 }), toastError);
  };
  const paste = async () => {
    try {
      term.paste(await navigator.clipboard.readText());
    } catch {
      toast('The browser did not let the page read the clipboard: paste with Ctrl+V (⌘V on a Mac) or the right-click menu instead.', { kind: 'warn' });
    }
    term.focus();
  };
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
    const action = { KeyC: copy, KeyV: paste, KeyF: () => finder.open() }[e.code];
    if (!action) return true;
    e.preventDefault();
    action();
    return false;
  });

  replace(actions,
    tool('Copy', copy, 'Copy the selection (Ctrl+Shift+C)', true),
    tool('Paste', paste, 'Paste (Ctrl+Shift+V)', true),
    tool('Search', () => finder.toggle(), 'Search the scrollback (Ctrl+Shift+F)'),
    reconnectButton,
    endButton);

  signal.addEventListener('abort', () => {
    link.close();
    clearInterval(countdown);
    resized.disconnect();
  }, { once: true });

  if (!deviceOnline) showDevice('offline');
  link.connect();
  term.focus();
}
