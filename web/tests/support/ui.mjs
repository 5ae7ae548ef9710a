// Steps a person takes in the app, shared by the browser tests: signing in through the form,
// and reading, seeing and typing into the terminal the way the page renders it.
import { readPng } from './png.mjs';

/** Makes `memberToken`'s account a member: the owner invites, the member opens the link. */
export async function addMember(relay, call, ownerToken, projectId, email, memberToken) {
  const invited = await call(relay, 'POST', '/functions/v1/invite-member', { token: ownerToken, body: { project_id: projectId, email } });
  if (invited.body.status !== 'invited') throw new Error(`invite: ${JSON.stringify(invited.body)}`);
  const token = new URL(invited.body.invite_url).searchParams.get('token');
  const joined = await call(relay, 'POST', '/api/v1/invitations/accept', { token: memberToken, body: { token } });
  if (joined.status !== 200) throw new Error(`accept: ${JSON.stringify(joined.body)}`);
}

export async function signIn(page, email, password, next = '/dashboard') {
  await page.goto(`/auth?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('tabpanel').getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname + u.search === next);
}

/** The terminal's connection pill ("Connected", "Reconnecting in 1 s", …). */
export const connection = (page) => page.locator('.term-title .status');

/** The size the page shows, as [cols, rows]. */
export async function shownSize(page) {
  const text = await page.locator('.term-meta[title="Columns × rows"]').textContent();
  return text.split('×').map(Number);
}

// xterm's DOM renderer draws each visible row as one element, padded with blanks (and the
// cursor); an anchored pattern is matched as if the row were trimmed.
const rows = (page, re) => page.locator('.xterm-rows > div')
  .filter({ hasText: new RegExp(re.source.replace(/^\^/, '^\\s*').replace(/\$$/, '\\s*$'), re.flags) });

/**
 * Waits until `count` visible terminal rows match `re` (a whole row: anchor it with ^ and $);
 * returns the match in the last of them.
 */
export async function waitForRow(page, re, { count = 1, timeout = 15_000 } = {}) {
  const row = rows(page, re).nth(count - 1);
  await row.waitFor({ timeout });
  return re.exec((await row.textContent()).replace(/\s+/g, ' ').trim());
}

/**
 * Where each glyph of the terminal row showing exactly `text` has ink, from a screenshot of
 * that row: for glyph i, `{ top, bottom }` — the first and last pixel rows with ink, as
 * fractions of the row's height — or null where the cell is blank.
 */
export async function glyphInk(page, text) {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await waitForRow(page, new RegExp(`^${escaped}$`));
  const box = await page.evaluate((t) => {
    const span = [...document.querySelectorAll('.xterm-rows > div > span')].find((s) => s.textContent.startsWith(t));
    const row = span.parentElement.getBoundingClientRect();
    const r = span.getBoundingClientRect();
    return { x: r.left, y: row.top, cell: r.width / span.textContent.length, height: row.height };
  }, text);
  const shot = readPng(await page.screenshot({
    clip: { x: box.x, y: box.y, width: box.cell * text.length, height: box.height },
  }));
  const scale = shot.height / box.height;
  return [...text].map((_, i) => {
    let top = null;
    let bottom = null;
    for (let y = 0; y < shot.height; y++) {
      for (let x = Math.floor(i * box.cell * scale); x < Math.floor((i + 1) * box.cell * scale); x++) {
        const [r, g, b] = shot.at(x, y);
        if (r + g + b > 240) {
          top ??= y;
          bottom = y;
        }
      }
    }
    return top === null ? null : { top: top / shot.height, bottom: (bottom + 1) / shot.height };
  });
}

/** Types a command into the focused terminal and presses Enter. */
export async function run(page, command) {
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

/** Searches the scrollback with the page's search bar; returns the count it shows. */
export async function search(page, query) {
  const box = page.getByRole('searchbox', { name: 'Search the terminal' });
  if (!(await box.isVisible())) await page.getByRole('button', { name: 'Search', exact: true }).click();
  await box.fill(query);
  const count = page.locator('.term-search .count');
  await count.filter({ hasText: /\S/ }).waitFor();
  const text = await count.textContent();
  await box.press('Escape');
  return text;
}
