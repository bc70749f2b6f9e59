// Checkout journeys: from the catalogue through the cart to the Stripe emulator's hosted payment
// page and back to the shop: paying, a declined card, 3-D Secure, cancelling, and the whole
// purchase on a phone-sized viewport.
//
// The emulator's pages live on another origin (the emulator's own port, read from the shop's
// log); they get the same checks as the shop's (screenshot, axe, labels), since they are the
// demo's payment pages.
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectAbsent, expectText, expectPath,
  fillShippingAddress, REPO_ROOT,
} from './harness.mjs';

const TOTE = 'Canvas tote bag';
const TOTE_PRICE = 18;
const CARD_OK = '4242424242424242';
const CARD_DECLINED = '4000000000000002';
const CARD_3DS = '4000002500003155';
const EMAIL = 'shopper@example.com';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

const money = (n) => `$${n.toFixed(2)}`;
/** The demo's standard shipping ($5.00, free from $50.00), preselected on the payment page. */
const shippingFor = (quantity) => (TOTE_PRICE * quantity >= 50 ? 0 : 5);
/** What the shopper pays for `quantity` totes: the line and its shipping. */
const due = (quantity) => money(TOTE_PRICE * quantity + shippingFor(quantity));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------------------------
// Page checks

/**
 * Pages allowed to scroll sideways at 390px (reported as a diagnostic instead of failing).
 * None now: the cart table turns into a list on narrow screens.
 */
const KNOWN_SIDEWAYS = new Set();

/** Where each page's diagnostics go (the journey's `diagnostic`). */
const diagnostics = new WeakMap();

/**
 * On a phone-sized viewport: nothing is wider than the screen (no sideways scrolling).
 * `strict`: fail on the pages in KNOWN_SIDEWAYS too.
 */
async function noSidewaysScroll(page, { strict = false } = {}) {
  if (page.viewportSize().width > 500) return;
  const { scrollWidth, clientWidth, wide } = await page.evaluate(() => {
    const root = document.documentElement;
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 1)
      .slice(0, 4)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className ? `.${e.className}` : ''}`);
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide };
  });
  if (scrollWidth <= clientWidth) return;
  const msg =
    `${page.url()} scrolls sideways on a phone: ${scrollWidth}px wide in a ${clientWidth}px viewport ` +
    `(too wide: ${wide.join(', ')})`;
  if (!strict && KNOWN_SIDEWAYS.has(new URL(page.url()).pathname)) {
    diagnostics.get(page)?.(`known issue, not failing: ${msg}`);
    return;
  }
  assert.fail(msg);
}

/** checkPage (screenshot, axe, labels), plus the phone check. */
async function check(page, name) {
  await checkPage(page, name);
  await noSidewaysScroll(page);
}

/** visit (which runs checkPage), plus the phone check. */
async function go(page, urlPath, name) {
  await visit(page, urlPath, name);
  await noSidewaysScroll(page);
}

// ---------------------------------------------------------------------------------------------
// The shop

/** The cart's table row for a product (the row that links to it). */
function cartRow(page, name) {
  return page
    .getByRole('main')
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name, exact: true }) });
}

/** The flash message the shop shows after a redirect (role="status" in the main content). */
function flash(page) {
  return page.getByRole('main').getByRole('status');
}

/** Home → the tote's product page → add `quantity` → the cart, with the "Added" flash. */
async function addToteToCart(page, quantity) {
  await go(page, '/', 'home');
  await page.getByRole('main').getByRole('link', { name: TOTE, exact: true }).click();
  await page.waitForURL('**/products/canvas-tote');
  await check(page, 'product');
  await expectVisible(page.getByRole('heading', { level: 1, name: TOTE }), 'the product heading');
  await page.getByLabel('Quantity', { exact: true }).fill(String(quantity));
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await check(page, 'cart-added');
  await expectText(flash(page), new RegExp(`^Added .*${escape(TOTE)}.* to your cart\\.$`), 'the "added" flash');
  await expectCartLine(page, quantity);
}

/** The cart shows the tote with this quantity, its Update and Remove buttons, and the subtotal. */
async function expectCartLine(page, quantity) {
  const total = money(TOTE_PRICE * quantity);
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Your cart' }), 'the "Your cart" heading');
  const row = cartRow(page, TOTE);
  await expectText(row, new RegExp(`^${escape(TOTE)} ${escape(money(TOTE_PRICE))} .*${escape(total)}$`), `the ${TOTE} line in the cart`);
  const field = await expectVisible(page.getByLabel(`Quantity of ${TOTE}`, { exact: true }), `the "Quantity of ${TOTE}" field`);
  assert.equal(await field.inputValue(), String(quantity), 'the quantity in the cart');
  await expectVisible(row.getByRole('button', { name: 'Update', exact: true }), 'the "Update" button');
  await expectVisible(row.getByRole('button', { name: `Remove ${TOTE}`, exact: true }), `the "Remove ${TOTE}" button`);
  await expectText(page.locator('#subtotal'), total, 'the cart subtotal');
}

/** Change the tote's quantity in the cart and press its Update button. */
async function updateQuantity(page, quantity) {
  await page.getByLabel(`Quantity of ${TOTE}`, { exact: true }).fill(String(quantity));
  await cartRow(page, TOTE).getByRole('button', { name: 'Update', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await check(page, 'cart-updated');
  await expectCartLine(page, quantity);
}

/** Press "Check out" in the cart and land on the emulator's payment page. */
async function checkOut(page, shop, { email } = {}) {
  if (email !== undefined) await page.getByLabel('E-mail for your receipt').fill(email);
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  const emulator = shop.emulatorURL();
  assert.ok(emulator, "the shop logged the emulator's origin");
  assert.equal(new URL(page.url()).origin, new URL(emulator).origin, 'the payment page is on the emulator');
  await check(page, 'payment');
}

/** The shop's success page: the order is paid, with this quantity and its total with shipping. */
async function expectPaidOrder(page, { quantity }) {
  const total = due(quantity);
  const line = money(TOTE_PRICE * quantity);
  await page.waitForURL((u) => u.pathname === '/checkout/success');
  expectPath(page, /^\/checkout\/success\?session_id=cs_test_/);
  await check(page, 'success');
  await expectText(page.getByRole('heading', { level: 1 }), /^Thank you! Order SF-\S+$/, 'the success heading');
  await expectText(page.locator('#order-status'), /^Paid$/, 'the order status');
  await expectText(page.locator('#order-total'), new RegExp(`^${escape(total)}$`), 'the order total');
  await expectText(
    page.getByRole('main').getByRole('row').filter({ hasText: TOTE }),
    new RegExp(`^${escape(TOTE)} ${quantity} ${escape(money(TOTE_PRICE))} ${escape(line)}$`),
    'the order line',
  );
}

/** After a paid checkout the cart is empty. */
async function expectEmptyCart(page) {
  await go(page, '/cart', 'cart-after-order');
  await expectText(page.getByRole('main'), 'Your cart is empty.', 'the cart after paying');
  await expectAbsent(cartRow(page, TOTE), 'tote line in the cart after paying');
  await expectAbsent(page.getByRole('button', { name: 'Check out' }), '"Check out" button with an empty cart');
}

// ---------------------------------------------------------------------------------------------
// The emulator's payment page

/**
 * On the emulator's payment page: check the heading, line and total, fill in the e-mail (unless
 * prefilled) and the card, and press "Pay $X". Returns the status the POST answered with: 303
 * (paid, or on to 3-D Secure) or the form again (402 declined, 400 invalid).
 */
async function payWithCard(page, card, { quantity, email = EMAIL }) {
  const total = due(quantity);
  await expectVisible(page.getByRole('heading', { level: 1, name: `Pay ${total}` }), `the "Pay ${total}" heading`);
  await expectText(
    page.getByRole('row').filter({ hasText: TOTE }),
    `${TOTE} ${quantity} ${money(TOTE_PRICE)} ${money(TOTE_PRICE * quantity)}`,
    'the line on the payment page',
  );
  const shipping = shippingFor(quantity);
  await expectText(page.locator('#shipping'), shipping ? money(shipping) : 'Free', 'the shipping preselected');
  await expectText(page.locator('#total'), new RegExp(`^${escape(total)}$`), 'the total due');
  await fillShippingAddress(page);
  const emailField = page.getByLabel('Email', { exact: true });
  if ((await emailField.inputValue()) === '') await emailField.fill(email);
  await page.getByLabel('Card number').fill(card);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  const answered = page.waitForResponse(
    (r) => r.request().method() === 'POST' && /^\/c\/pay\/cs_test_[^/]+$/.test(new URL(r.url()).pathname),
  );
  await page.getByRole('button', { name: `Pay ${total}`, exact: true }).click();
  return (await answered).status();
}

// ---------------------------------------------------------------------------------------------
// Journeys

/** Journey 1: two totes, make it three in the cart, pay by card, see the paid order. */
async function buyThreeTotes(page, shop) {
  await addToteToCart(page, 2);
  await updateQuantity(page, 3);
  await checkOut(page, shop, { email: EMAIL });
  assert.equal(
    await page.getByLabel('Email', { exact: true }).inputValue(),
    EMAIL,
    'the receipt e-mail given in the cart is prefilled on the payment page',
  );
  await payWithCard(page, CARD_OK, { quantity: 3 });
  await expectPaidOrder(page, { quantity: 3 });
  await expectEmptyCart(page);
}

journey('checkout: buy three totes with a card', async ({ page, shop }) => {
  await buyThreeTotes(page, shop);
});

journey('checkout: in a rush the shopper waits in line, then pays', async ({ page, shop }) => {
  await addToteToCart(page, 1);
  // Stripe answers 429 to the session's create and both its retries (no turn: the shop puts the
  // shopper in line instead of showing an error), then to the waiting page's first try.
  const res = await fetch(new URL('/_emulator/faults', shop.emulatorURL()), {
    method: 'POST',
    headers: { Authorization: 'Bearer sk_test_demo' },
    body: new URLSearchParams({ path: '/v1/checkout/sessions', method: 'POST', status: '429', count: '6' }),
  });
  assert.equal(res.status, 200, 'the emulator takes the fault');
  // The page reloads itself after 3 s; its reload is held back until the checks below are done
  // (on a loaded machine they can take longer than that), then let through.
  let release;
  const checked = new Promise((resolve) => { release = resolve; });
  let loads = 0;
  await page.route(/\/checkout\/wait\/SF-/, async (route) => {
    loads += 1;
    if (loads > 1) await checked;
    await route.continue();
  });
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/checkout\/wait\/SF-/.test(u.pathname));
  // The issue asks for a page that refreshes itself without JavaScript; axe flags any timed
  // refresh (WCAG 2.2.1), which the page answers with its "Stop checking by itself" link
  // (tests/api/flash_sale.rs checks that page).
  await checkPage(page, 'waiting-in-line', { allowedAxe: ['meta-refresh'] });
  await noSidewaysScroll(page);
  // README's picture of the waiting page ("Selling at scale") comes from here.
  if (process.env.README_SCREENSHOTS) {
    await page.screenshot({ path: path.join(REPO_ROOT, 'docs', 'waiting-page.png') });
  }
  await expectText(page.getByRole('heading', { level: 1 }), /^High demand — you're in line$/, 'the waiting heading');
  await expectText(page.locator('#place'), /^number 1$/, 'the place in line');
  await expectVisible(page.getByRole('link', { name: 'Back to the cart' }), 'the way back to the cart');
  await expectVisible(page.getByRole('link', { name: 'Stop checking by itself' }), 'the way to stop the refresh');
  // No click: the page reloads itself (meta refresh) and sends the shopper on when it's their turn.
  release();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname), { timeout: 20_000 });
  await check(page, 'payment-after-waiting');
  await payWithCard(page, CARD_OK, { quantity: 1 });
  await expectPaidOrder(page, { quantity: 1 });
  await expectEmptyCart(page);
});

journey('checkout: a declined card, then a good one', async ({ page, shop }) => {
  await addToteToCart(page, 1);
  await checkOut(page, shop);
  const payURL = page.url();
  // The emulator answers a declined card with 402 and the form again, as Stripe's page would.
  allowStatus(page, payURL, 402);
  const status = await payWithCard(page, CARD_DECLINED, { quantity: 1 });
  assert.equal(status, 402, 'the emulator answers a declined card with 402');
  await page.waitForLoadState('load');
  assert.equal(page.url(), payURL, 'a declined card stays on the payment page');
  await check(page, 'payment-declined');
  await expectText(page.getByRole('alert'), /^Your card was declined\.$/, 'the decline message');
  assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), EMAIL, 'the e-mail is kept');
  // The shopper tries another card.
  await payWithCard(page, CARD_OK, { quantity: 1 });
  await expectPaidOrder(page, { quantity: 1 });
  await expectEmptyCart(page);
});

journey('checkout: 3-D Secure approved', async ({ page, shop }) => {
  await addToteToCart(page, 1);
  await checkOut(page, shop);
  await payWithCard(page, CARD_3DS, { quantity: 1 });
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+\/3ds$/.test(u.pathname));
  await check(page, '3ds');
  await expectVisible(page.getByText(`confirm the payment of ${due(1)} with the card ending in 3155`), 'the 3-D Secure prompt');
  await expectVisible(page.getByRole('button', { name: 'Fail authentication' }), 'the "Fail authentication" button');
  await page.getByRole('button', { name: 'Complete authentication' }).click();
  await expectPaidOrder(page, { quantity: 1 });
  await expectEmptyCart(page);
});

journey('checkout: cancel on the payment page keeps the cart', async ({ page, shop }) => {
  await addToteToCart(page, 2);
  await checkOut(page, shop);
  const payURL = page.url();
  await page.getByRole('link', { name: 'Back to the shop' }).click();
  // The shop's cancel page changes nothing by itself: the shopper chooses.
  await page.waitForURL((u) => u.pathname === '/checkout/cancel');
  await check(page, 'checkout-left');
  await expectText(page.getByRole('heading', { level: 1 }), 'You left the payment page', 'the cancel page heading');
  await expectVisible(page.getByRole('link', { name: 'Return to the payment page' }), 'the way back to the payment page');
  await page.getByRole('button', { name: 'Back to cart', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await check(page, 'cart-cancelled');
  await expectText(flash(page), /^Checkout cancelled\. Your cart is just as you left it\.$/, 'the cancel flash');
  await expectCartLine(page, 2);
  await expectVisible(page.getByRole('button', { name: 'Check out', exact: true }), 'the "Check out" button');
  // The flash is shown once.
  await go(page, '/cart', 'cart-reloaded');
  await expectAbsent(page.getByText('Checkout cancelled'), 'the cancel flash after a reload');
  await expectCartLine(page, 2);
  // The shop expired the Checkout Session: its payment page can no longer be paid.
  await go(page, payURL, 'payment-expired');
  await expectText(page.locator('#status'), 'This Checkout Session has expired and can no longer be paid.', 'the expired session');
  await expectAbsent(page.getByRole('button', { name: /^Pay/ }), 'a "Pay" button on an expired session');
});

journey('checkout on a phone: buy three totes', { contextOptions: PHONE }, async ({ page, shop, diagnostic }) => {
  diagnostics.set(page, diagnostic);
  await buyThreeTotes(page, shop);
});

journey(
  'cart fits a phone screen',
  { contextOptions: PHONE },
  async ({ page }) => {
    await go(page, '/products/canvas-tote', 'product');
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.waitForURL((u) => u.pathname === '/cart');
    await check(page, 'cart');
    await expectVisible(cartRow(page, TOTE), `the ${TOTE} line in the cart`);
    await noSidewaysScroll(page, { strict: true });
  },
);
