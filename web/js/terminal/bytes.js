// Terminal bytes travel base64-encoded in `data_b64` (docs/protocol.md). xterm.js takes
// output as bytes and hands input over as strings: UTF-8 text, or "binary" strings whose
// characters are single bytes (mouse reports).

const encoder = new TextEncoder();

export function fromBase64(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes) {
  let bin = '';
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export const utf8 = (text) => encoder.encode(text);

export const binary = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
