// Harness for Storefront's real-browser journeys.
//
// Each journey gets its own shop (the real binary, a fresh SQLite file in a temp dir, demo mode,
// the emulator's state in memory) and its own Chromium (Debian's, driven by playwright-core, with
// a fresh profile). Every page a journey looks at goes through `checkPage`: a full-page screenshot
// in target/screenshots/, axe-core (serious or critical violations fail the test) and a check
// that every visible form field has a label. Console errors, uncaught page errors and CSP
// violations fail the journey too.
//
// Writing a journey:
//
//   import { journey, visit, checkPage, expectVisible, expectAbsent } from './harness.mjs';
//
//   journey('cart: add a tote', async ({ page }) => {
//     await visit(page, '/products/canvas-tote', 'product');
//     await page.getByRole('button', { name: 'Add to cart' }).click();
//     await checkPage(page, 'cart');                  // after a click that navigated
//     await expectVisible(page.getByRole('heading', { name: 'Your cart' }));
//   });
//
// Options (second argument, optional): { viewport, contextOptions, shopEnv, timeout }.
// The journey's context: { page, shop, browser, context, newPage, slug, diagnostic }.
//
// Pages on another origin (the Stripe emulator's hosted Checkout, 3-D Secure and portal pages,
// on the emulator's own port: shop.emulatorURL()) get the same checks; pass their absolute URL
// to visit() or allowStatus().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

export const REPO_ROOT = path.resolve(here, '..', '..');
export const STOREFRONT_BIN =
  process.env.STOREFRONT_BIN || path.join(REPO_ROOT, 'target', 'debug', 'storefront');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'target', 'screenshots');
/** How long a locator waits for an element before the step fails. */
export const STEP_TIMEOUT_MS = Number(process.env.BROWSER_STEP_TIMEOUT_MS || 10_000);
/** axe impacts that fail a test; the others are reported as diagnostics only. */
export const FAILING_IMPACTS = ['serious', 'critical'];

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Environment variables the shop reads; none is inherited from the caller's shell, so a
// developer's STRIPE_SECRET_KEY or DATABASE_URL can never leak into a test run.
const SHOP_VARIABLES = [
  'DATABASE_URL', 'BIND', 'PUBLIC_URL', 'SESSION_KEY', 'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_BASE', 'EMULATOR_BIND', 'EMULATOR_DB', 'SMTP_URL',
  'METRICS_TOKEN', 'LOG_FORMAT', 'CURRENCY', 'ALLOW_INSECURE_PUBLIC_URL', 'TRUSTED_PROXIES',
  'STRIPE_TAX', 'STRIPE_TAX_BEHAVIOR', 'STRIPE_TIMEOUT', 'MAIL_FROM',
];

// ---------------------------------------------------------------------------------------------
// The shop

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** A TCP port that nothing listens on right now (the kernel's pick). */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/**
 * Start the real binary in demo mode on a free port with a fresh database in a temp dir, and
 * wait until GET /healthz answers 200. Returns { baseURL, port, dir, logs(), emulatorURL(), stop(), cleanup() }.
 */
export async function startShop({ env = {}, readyTimeoutMs = 30_000 } = {}) {
  if (!fs.existsSync(STOREFRONT_BIN)) {
    throw new Error(
      `storefront binary not found at ${STOREFRONT_BIN}; build it (cargo build --bin storefront) ` +
        'or set STOREFRONT_BIN',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storefront-browser-'));
  const port = await freePort();
  const baseEnv = { ...process.env };
  for (const name of SHOP_VARIABLES) delete baseEnv[name];
  const childEnv = {
    ...baseEnv,
    DATABASE_URL: `sqlite://${path.join(dir, 'shop.db')}`,
    BIND: `127.0.0.1:${port}`,
    EMULATOR_BIND: '127.0.0.1:0', // the emulator picks a free port; the shop's CSP names the real one
    EMULATOR_DB: ':memory:',
    NO_COLOR: '1',
    ...env,
  };

  let output = '';
  const child = spawn(STOREFRONT_BIN, ['serve'], {
    cwd: dir, // the shop reads .env from its working directory: keep the repo's out of it
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    running.delete(child);
  });
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });

  const baseURL = `http://127.0.0.1:${port}`;
  const shop = {
    baseURL,
    port,
    dir,
    logs: () => stripAnsi(output),
    /** The embedded Stripe emulator's origin, read from the shop's log (null if not logged). */
    emulatorURL: () => stripAnsi(output).match(/emulator listening origin=(http:\/\/[^\s"]+)/)?.[1] ?? null,
    async stop() {
      if (exited === null) {
        const gone = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) {
      shop.cleanup();
      const st = fs.statSync(STOREFRONT_BIN);
      const hint = shop.logs().trim()
        ? ''
        : ` It printed nothing: is ${STOREFRONT_BIN} (${st.size} bytes, modified ` +
          `${st.mtime.toISOString()}) being rebuilt right now? Wait for the build, or set STOREFRONT_BIN ` +
          'to a copy.';
      throw new Error(
        `storefront exited before it was ready (code ${exited.code}, signal ${exited.signal}).${hint}\n` +
          shop.logs(),
      );
    }
    try {
      const res = await fetch(`${baseURL}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await shop.stop();
      shop.cleanup();
      throw new Error(`storefront was not healthy within ${readyTimeoutMs} ms:\n${shop.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return shop;
}

// ---------------------------------------------------------------------------------------------
// The browser

/**
 * Debian's Chromium, headless. playwright-core gives every launch a fresh, empty profile
 * (a new --user-data-dir in the temp dir, deleted when the browser closes).
 */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}; apt-get install chromium (scripts/browser-tests ` +
        'does it) or set CHROMIUM_PATH',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

// Per-page bookkeeping: which test it belongs to, how many pages it has checked, what went wrong.
const pageState = new WeakMap();

function slugify(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'test';
}

/**
 * Watch a page for the problems every journey fails on: console errors (which include CSP
 * violations and failed subresource loads), uncaught exceptions, and subresources that answer
 * with an error status.
 */
function watchPage(page, { slug, baseURL, diagnostic }) {
  const state = { slug, baseURL, shots: 0, problems: [], diagnostic, expectedStatus: new Map() };
  pageState.set(page, state);
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS * 2);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url;
    // Chromium asks for /favicon.ico by itself, whatever the page says; the shop has none yet.
    if (url && new URL(url).pathname === '/favicon.ico') {
      if (!state.faviconNoted) diagnostic(`note: ${msg.text()} (${url}); the browser asked for it by itself`);
      state.faviconNoted = true;
      return;
    }
    // A document served with the status the journey asked for (a 404 page) is not a problem.
    if (/status of \d+/.test(msg.text()) && url && state.expectedStatus.has(url)) return;
    state.problems.push(`console error: ${msg.text()}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (err) => state.problems.push(`uncaught exception: ${err.message}`));
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? 'failed';
    // A navigation that another navigation replaced is not a problem.
    if (failure === 'net::ERR_ABORTED') return;
    state.problems.push(`request failed: ${req.method()} ${req.url()}: ${failure}`);
  });
  page.on('response', (res) => {
    const req = res.request();
    if (res.status() < 400) return;
    // A page the journey expects to fail that way (visit(..., { status }) or allowStatus()).
    if (req.isNavigationRequest() && state.expectedStatus.get(res.url()) === res.status()) return;
    if (new URL(res.url()).pathname === '/favicon.ico') return; // see the console handler
    state.problems.push(`HTTP ${res.status()} for ${req.method()} ${res.url()}`);
  });
  return state;
}

function stateOf(page) {
  const state = pageState.get(page);
  if (!state) throw new Error('this page was not opened by journey() / newPage()');
  return state;
}

/**
 * Tell the journey that navigating to `urlPath` (after a click or form post) is expected to
 * answer `status` (>= 400), so the error response is not reported as a problem. `urlPath` is
 * relative to the shop, or an absolute URL (e.g. an emulator page that answers a declined card
 * with 402 and the form again).
 */
export function allowStatus(page, urlPath, status) {
  const state = stateOf(page);
  state.expectedStatus.set(new URL(urlPath, state.baseURL).href, status);
}

// ---------------------------------------------------------------------------------------------
// Checks run on every page

/**
 * Go to `urlPath` (relative to the shop), assert the response status (default: 200) and run
 * checkPage. Returns the navigation response.
 */
export async function visit(page, urlPath, name, { status = 200 } = {}) {
  const state = stateOf(page);
  const url = new URL(urlPath, state.baseURL).href;
  state.expectedStatus.set(url, status);
  const response = await page.goto(url, { waitUntil: 'load' });
  assert.ok(response, `no response for ${url}`);
  assert.equal(response.status(), status, `GET ${urlPath} answered ${response.status()}, expected ${status}`);
  await checkPage(page, name ?? (slugify(urlPath) === 'test' ? 'home' : slugify(urlPath)));
  return response;
}

/**
 * The checks every page gets, wherever it came from (visit, a click, a form post):
 * a full-page screenshot, axe-core, and labels on every visible form field.
 */
export async function checkPage(page, name, { allowedAxe = [] } = {}) {
  const state = stateOf(page);
  await page.waitForLoadState('load');
  state.shots += 1;
  const base = `${state.slug}-${String(state.shots).padStart(2, '0')}-${slugify(name)}`;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const shot = path.join(SCREENSHOT_DIR, `${base}.png`);
  await page.screenshot({ path: shot, fullPage: true });

  const failures = [];
  const violations = await runAxe(page);
  // `allowedAxe`: rules a page breaks on purpose, each with its reason where it is passed.
  const serious = violations.filter((v) => FAILING_IMPACTS.includes(v.impact) && !allowedAxe.includes(v.id));
  const minor = violations.filter((v) => !FAILING_IMPACTS.includes(v.impact) || allowedAxe.includes(v.id));
  if (violations.length) {
    fs.writeFileSync(
      path.join(SCREENSHOT_DIR, `${base}.axe.json`),
      JSON.stringify({ url: page.url(), violations }, null, 2),
    );
  }
  for (const v of minor) state.diagnostic(`axe (${v.impact}, not failing) on ${page.url()}: ${formatViolation(v)}`);
  if (serious.length) {
    failures.push(
      `axe found ${serious.length} serious/critical violation(s) on ${page.url()}:\n` +
        serious.map((v) => `  - ${formatViolation(v)}`).join('\n'),
    );
  }

  const unlabelled = await unlabelledFields(page);
  if (unlabelled.length) {
    failures.push(
      `form fields without an accessible label on ${page.url()}:\n` +
        unlabelled.map((f) => `  - ${f}`).join('\n'),
    );
  }
  if (failures.length) {
    throw new assert.AssertionError({
      message: `${failures.join('\n')}\n  (screenshot: ${path.relative(REPO_ROOT, shot)})`,
    });
  }
}

function formatViolation(v) {
  const nodes = v.nodes
    .slice(0, 5)
    .map((n) => `      ${n.target.join(' ')}  ${n.html.replace(/\s+/g, ' ').slice(0, 160)}`)
    .join('\n');
  const more = v.nodes.length > 5 ? `\n      … and ${v.nodes.length - 5} more` : '';
  return `${v.id} [${v.impact}] ${v.help} (${v.helpUrl})\n${nodes}${more}`;
}

/**
 * Run axe-core in the page. The shop's CSP (script-src 'self') blocks an inline <script>, so
 * axe's source is evaluated through the DevTools protocol (page.evaluate with a string), which
 * CSP does not govern; the page's own CSP stays on, so the journeys still see what a shopper's
 * browser enforces.
 */
async function runAxe(page) {
  const loaded = await page.evaluate('typeof window.axe === "object"');
  if (!loaded) {
    await page.evaluate(AXE_SOURCE);
  }
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      tags: v.tags,
      nodes: v.nodes.map((n) => ({
        target: n.target.map(String),
        html: n.html,
        impact: n.impact,
        summary: n.failureSummary,
      })),
    }));
  });
  return result;
}

/**
 * Visible form fields (input other than hidden/submit/button/reset/image, select, textarea)
 * that have no accessible label: a <label> (for= or wrapping) with text, aria-labelledby
 * pointing at text, or a non-empty aria-label. A placeholder or title is not a label.
 */
async function unlabelledFields(page) {
  return page.evaluate(() => {
    const text = (el) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
    const visible = (el) => {
      const style = getComputedStyle(el);
      return (
        el.getClientRects().length > 0 &&
        style.visibility !== 'hidden' &&
        style.display !== 'none' &&
        !el.closest('[hidden], [aria-hidden="true"]')
      );
    };
    const fields = document.querySelectorAll(
      'input:not([type="hidden" i]):not([type="submit" i]):not([type="button" i])' +
        ':not([type="reset" i]):not([type="image" i]), select, textarea',
    );
    const bad = [];
    for (const el of fields) {
      if (!visible(el)) continue;
      const fromLabels = [...(el.labels ?? [])].some((l) => text(l) !== '');
      const fromLabelledBy = (el.getAttribute('aria-labelledby') ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .some((id) => text(document.getElementById(id)) !== '');
      const fromAriaLabel = (el.getAttribute('aria-label') ?? '').trim() !== '';
      if (!fromLabels && !fromLabelledBy && !fromAriaLabel) {
        const html = el.outerHTML.replace(/\s+/g, ' ').slice(0, 160);
        bad.push(html);
      }
    }
    return bad;
  });
}

// ---------------------------------------------------------------------------------------------
// Assertions on locators (playwright-core has no `expect`)

/** Wait until the locator matches exactly one visible element; fail with `what` otherwise. */
export async function expectVisible(locator, what = String(locator)) {
  try {
    await locator.waitFor({ state: 'visible' });
  } catch (e) {
    const n = await locator.count().catch(() => '?');
    throw new assert.AssertionError({
      message:
        `expected to see ${what}, but it is not visible (${n} match(es) for ${locator}): ` +
        e.message.split('\n')[0],
    });
  }
  return locator;
}

/** The page has loaded: assert the locator matches nothing at all. */
export async function expectAbsent(locator, what = String(locator)) {
  const n = await locator.count();
  assert.equal(n, 0, `expected no ${what}, found ${n}`);
}

/** Assert the element's text matches a RegExp (or contains a string). */
export async function expectText(locator, pattern, what = String(locator)) {
  await expectVisible(locator, what);
  const actual = (await locator.innerText()).replace(/\s+/g, ' ').trim();
  if (pattern instanceof RegExp) {
    assert.match(actual, pattern, `${what}: text ${JSON.stringify(actual)} does not match ${pattern}`);
  } else {
    assert.ok(actual.includes(pattern), `${what}: text ${JSON.stringify(actual)} lacks ${JSON.stringify(pattern)}`);
  }
  return actual;
}

// ---------------------------------------------------------------------------------------------
// The emulator's hosted Checkout page

/** Where test parcels go: no tax in the emulator's rate table. */
export const NEW_YORK = {
  name: 'Ada Lovelace', country: 'US', line1: '350 Fifth Avenue', city: 'New York', state: 'NY', postalCode: '10118',
};

/**
 * Fill the hosted page's "Shipping address" fieldset (asked for physical goods). The state is a
 * text field until the page knows the country (no JavaScript), and the server reads "NY" as New York.
 */
export async function fillShippingAddress(page, address = NEW_YORK) {
  const group = page.getByRole('group', { name: 'Shipping address' });
  await expectVisible(group, 'the "Shipping address" fieldset');
  await group.getByLabel('Full name', { exact: true }).fill(address.name);
  await group.getByLabel('Country or region', { exact: true }).selectOption(address.country);
  await group.getByLabel('Address line 1', { exact: true }).fill(address.line1);
  await group.getByLabel('City', { exact: true }).fill(address.city);
  if (address.state) {
    // A select of states once the page knows the country is the US; a text field before.
    const state = group.getByLabel(/^State/);
    const tag = await state.evaluate((e) => e.tagName);
    if (tag === 'SELECT') await state.selectOption(address.state);
    else await state.fill(address.state);
  }
  await group.getByLabel(/^Postal code/).fill(address.postalCode);
}

/** Assert the page's path (and query) is `expected` (string or RegExp). */
export function expectPath(page, expected) {
  const u = new URL(page.url());
  const actual = u.pathname + u.search;
  if (expected instanceof RegExp) assert.match(actual, expected);
  else assert.equal(actual, expected, `expected to be on ${expected}, but on ${actual}`);
}

// ---------------------------------------------------------------------------------------------
// journey(): one node:test test with its own shop, browser, context and page

/**
 * Register a journey as a node:test test.
 *   journey(name, fn)  or  journey(name, options, fn)
 * options: { viewport: {width,height}, contextOptions: {...}, shopEnv: {...}, timeout: ms,
 *            skip, only, todo }
 */
export function journey(name, options, fn) {
  if (typeof options === 'function') {
    fn = options;
    options = {};
  }
  const { viewport, contextOptions = {}, shopEnv = {}, timeout = 120_000, ...testOptions } = options;
  const slug = slugify(name);

  test(name, { timeout, ...testOptions }, async (t) => {
    for (const f of fs.existsSync(SCREENSHOT_DIR) ? fs.readdirSync(SCREENSHOT_DIR) : []) {
      if (f.startsWith(`${slug}-`)) fs.rmSync(path.join(SCREENSHOT_DIR, f));
    }
    // TAP diagnostics are one line each; a multi-line message becomes several.
    const diagnostic = (msg) => String(msg).split('\n').forEach((line) => t.diagnostic(line));
    const shop = await startShop({ env: shopEnv });
    let browser;
    let failed = true;
    const pages = [];
    try {
      browser = await launchBrowser();
      const newPage = async (extra = {}) => {
        const context = await browser.newContext({
          baseURL: shop.baseURL,
          viewport: viewport ?? { width: 1280, height: 800 },
          ...contextOptions,
          ...extra,
        });
        const page = await context.newPage();
        const state = watchPage(page, { slug, baseURL: shop.baseURL, diagnostic });
        if (pages.length > 0) {
          // A second shopper: its screenshots share the test's numbering via its own prefix.
          state.slug = `${slug}-p${pages.length + 1}`;
        }
        pages.push({ page, state });
        return page;
      };
      const page = await newPage();
      await fn({ page, shop, browser, context: page.context(), newPage, slug, diagnostic });
      const problems = pages.flatMap(({ state }) => state.problems);
      if (problems.length) {
        throw new assert.AssertionError({
          message: `the browser reported problems:\n  ${problems.join('\n  ')}`,
        });
      }
      failed = false;
    } finally {
      if (failed) {
        for (const { page, state } of pages) {
          const shot = path.join(SCREENSHOT_DIR, `${state.slug}-failure.png`);
          try {
            fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
            await page.screenshot({ path: shot, fullPage: true, timeout: 5_000 });
            diagnostic(`failure screenshot: ${path.relative(REPO_ROOT, shot)} (at ${page.url()})`);
          } catch { /* the page may be gone */ }
        }
      }
      await browser?.close().catch(() => {});
      await shop.stop();
      if (failed) {
        const tail = shop.logs().split('\n').slice(-40).join('\n');
        diagnostic(`shop log (last 40 lines; data kept in ${shop.dir}):\n${tail}`);
      } else {
        shop.cleanup();
      }
    }
  });
}
