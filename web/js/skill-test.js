// "Test connection" for an AI node's relay: opens a WebSocket to <relay_url>/connect and
// closes it as soon as it opens, timing the handshake. Nothing is sent, so no node logs in.

/** The WebSocket address of a relay given as wss://, ws://, https:// or http://. */
function connectUrl(relayUrl) {
  const url = new URL(relayUrl.trim());
  url.protocol = { 'https:': 'wss:', 'http:': 'ws:' }[url.protocol] ?? url.protocol;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/connect`;
  return url.href;
}

/** Resolves with the handshake time in ms; rejects with a sentence saying what failed. */
export function testRelay(relayUrl, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket(connectUrl(relayUrl));
    } catch {
      reject(new Error('That is not a usable relay URL.'));
      return;
    }
    const started = performance.now();
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`No answer within ${timeoutMs / 1000} s: check the address and that the relay is running.`));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(Math.round(performance.now() - started));
      ws.close(1000, 'connection test');
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error('The WebSocket handshake failed: check the address, the certificate, and that a proxy forwards WebSocket upgrades to /connect.'));
    };
  });
}
