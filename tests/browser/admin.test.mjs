// Admin journeys (issue journey 6): a customer buys three totes; the demo admin signs in, finds
// the order on /admin, refunds part of it, then the rest; the customer's order page shows both
// refunds. And a customer who opens /admin gets the 403 page.
//
// Each journey has its own shop (fresh database, demo mode), so the demo admin exists and the
// customer's e-mail can be fixed. The admin works in a second, isolated browser context.
import assert from 'node:assert/strict';
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectAbsent, expectText, expectPath,
  fillShippingAddress,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'storefront-demo-admin';
const CARD_OK = '4242424242424242';
const TOTE = 'Canvas tote bag';
const TOTE_PRICE = 18;

const money = (n) => `$${n.toFixed(2)}`;
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------------------------------------
// Page parts

/** The flash message the shop shows after a redirect (role="status" in the main content). */
function flash(page) {
  return page.getByRole('main').getByRole('status');
}

/** The site header's main navigation. */
function mainNav(page) {
  return page.getByRole('navigation', { name: 'Main' });
}

/** The refund rows (admin and customer order pages). */
function refundRows(page) {
  return page.locator('#refunds tbody tr.refund');
}

/** Reload the page (up to `timeoutMs`) until the locator's text matches (webhooks are async). */
async function waitForText(page, locator, pattern, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await locator.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(text)} does not match ${pattern} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
    await page.reload({ waitUntil: 'load' });
  }
}

// ---------------------------------------------------------------------------------------------
// Steps

/** Register a customer from /account/register and land on /account. */
async function register(page, email) {
  await visit(page, '/account/register', 'register');
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Password (at least 12 characters)', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Password again', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account');
  await checkPage(page, 'account-welcome');
  await expectText(page.getByRole('main'), `Signed in as ${email}`, 'the signed-in e-mail');
}

/** Sign in from /account/login (with `next`), landing on `landing`. */
async function signIn(page, { email, password, next, landing = next ?? '/account' }) {
  const path = next ? `/account/login?next=${encodeURIComponent(next)}` : '/account/login';
  await visit(page, path, 'login');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Sign in' }), 'the "Sign in" heading');
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => u.pathname === landing);
}

/**
 * A signed-in customer buys `quantity` totes: product → Add to cart → cart → Check out →
 * the emulator's payment page → the success page. Returns the order number.
 */
async function buyTotes(page, shop, { email, quantity }) {
  const total = money(TOTE_PRICE * quantity);
  await visit(page, '/products/canvas-tote', 'product');
  await page.getByLabel('Quantity', { exact: true }).fill(String(quantity));
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await checkPage(page, 'cart');
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  assert.equal(new URL(page.url()).origin, new URL(shop.emulatorURL()).origin, 'the payment page is on the emulator');
  await checkPage(page, 'payment');
  await expectVisible(page.getByRole('heading', { level: 1, name: `Pay ${total}` }), `the "Pay ${total}" heading`);
  const emailField = page.getByLabel('Email', { exact: true });
  if ((await emailField.inputValue()) === '') await emailField.fill(email);
  // Three totes ($54.00) ship free: the total is the goods'.
  await fillShippingAddress(page);
  await page.getByLabel('Card number').fill(CARD_OK);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: `Pay ${total}`, exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/checkout/success');
  await checkPage(page, 'success');
  await expectText(page.locator('#order-status'), /^Paid$/, 'the order status');
  await expectText(page.locator('#order-total'), new RegExp(`^${escape(total)}$`), 'the order total');
  const heading = await expectText(page.getByRole('heading', { level: 1 }), /^Thank you! Order SF-\S+$/, 'the success heading');
  return heading.match(/Order (SF-\S+)$/)[1];
}

/** The admin's refund form on /admin/orders/{number}. */
function refundForm(page) {
  return {
    amount: page.getByLabel(/^Amount \(/),
    reason: page.getByLabel('Reason', { exact: true }),
    note: page.getByLabel(/^Note/),
    // Scoped: the ship form names the same lines.
    restock: page.locator('form.refund-form').getByLabel(new RegExp(`^${escape(TOTE)} \\(0 to \\d+\\)$`)),
    submit: page.getByRole('button', { name: 'Refund', exact: true }),
  };
}

/** Fill in and send the refund form; land back on the order page with the result flash. */
async function refund(page, number, { amount, reason, note, restock }, name) {
  const f = refundForm(page);
  if (amount !== undefined) await f.amount.fill(amount);
  if (reason !== undefined) await f.reason.selectOption(reason);
  if (note !== undefined) await f.note.fill(note);
  if (restock !== undefined) await f.restock.fill(String(restock));
  await f.submit.click();
  await page.waitForURL((u) => u.pathname === `/admin/orders/${number}`);
  await checkPage(page, name);
}

// ---------------------------------------------------------------------------------------------
// Journeys

journey('admin: find an order, refund part of it, then the rest', async ({ page, shop, newPage }) => {
  const email = 'refund.me@example.com';
  const quantity = 3;
  const total = TOTE_PRICE * quantity; // $54.00

  // The customer registers and buys three totes.
  await register(page, email);
  const number = await buyTotes(page, shop, { email, quantity });

  // The admin, in a browser of their own, signs in and opens /admin.
  const admin = await newPage();
  await signIn(admin, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  await checkPage(admin, 'admin-signed-in');
  const adminLink = mainNav(admin).getByRole('link', { name: 'Admin', exact: true });
  await expectVisible(adminLink, 'the "Admin" link in the header');
  await adminLink.click();
  await admin.waitForURL((u) => u.pathname === '/admin');
  await checkPage(admin, 'admin-orders');
  await expectVisible(admin.getByRole('heading', { level: 1, name: 'Orders' }), 'the "Orders" heading');

  // Search for the order number.
  await admin.getByLabel(/^Order number, e-mail, or Stripe id/).fill(number);
  await admin.getByRole('main').getByRole('button', { name: 'Search', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin' && u.searchParams.get('q') === number);
  await checkPage(admin, 'admin-orders-search');
  const rows = admin.locator('#orders tbody tr');
  assert.equal(await rows.count(), 1, 'searching the order number finds one order');
  await expectText(rows, new RegExp(`^${escape(number)} .* ${escape(email)} Paid ${escape(money(total))} \\$0\\.00$`), 'the order row');

  // Open the order.
  await rows.getByRole('link', { name: number, exact: true }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}`);
  await checkPage(admin, 'admin-order');
  await expectVisible(admin.getByRole('heading', { level: 1, name: `Order ${number}` }), 'the order heading');
  await expectText(admin.locator('#order-status'), /^Paid$/, 'the order status');
  await expectText(admin.locator('#order-total'), new RegExp(`^${escape(money(total))}$`), 'the order total');
  await expectText(admin.locator('#customer-email'), new RegExp(`^${escape(email)}$`), "the customer's e-mail");
  await expectText(admin.locator('#payment-intent'), /^pi_/, 'the PaymentIntent');
  await expectText(admin.getByRole('main').getByRole('row').filter({ hasText: TOTE }), `${TOTE} ${quantity}`, 'the order line');
  await expectText(admin.getByRole('main'), 'No refunds.', 'no refunds yet');
  await expectText(admin.locator('#refundable'), `Still refundable: ${money(total)}`, 'what is still refundable');
  const f = refundForm(admin);
  assert.equal(await f.amount.inputValue(), total.toFixed(2), 'the amount is prefilled with the refundable amount');
  await expectVisible(f.reason, 'the "Reason" select');
  await expectVisible(f.note, 'the "Note" field');
  await expectVisible(f.restock, `the "Return to stock" field for ${TOTE}`);
  await expectVisible(f.submit, 'the "Refund" button');

  // A partial refund: $10.00, requested by the customer, one tote back to stock.
  await refund(admin, number, { amount: '10.00', reason: 'requested_by_customer', note: 'One tote came back', restock: 1 }, 'admin-order-partial');
  await expectText(flash(admin), /^Refund of \$10\.00 (issued\.|requested; Stripe reports it pending\.)$/, 'the partial refund flash');
  await waitForText(admin, admin.locator('#order-status'), /^Partially refunded$/, 'the order status after the partial refund');
  await checkPage(admin, 'admin-order-partially-refunded');
  await expectText(admin.locator('#order-refunded'), /^\$10\.00$/, 'the refunded amount');
  assert.equal(await refundRows(admin).count(), 1, 'one refund listed');
  await expectText(refundRows(admin), /\$10\.00 Succeeded (?:Requested by customer|requested_by_customer) admin@example\.com re_\S+ One tote came back$/, 'the partial refund row');
  await expectText(admin.locator('#refundable'), `Still refundable: ${money(total - 10)}`, 'what is still refundable');
  assert.equal(await f.amount.inputValue(), (total - 10).toFixed(2), 'the amount is prefilled with the rest');
  await expectText(admin.locator('#audit'), /Refund/i, 'the audit trail');

  // Refund the rest: the prefilled amount.
  await refund(admin, number, {}, 'admin-order-full');
  await expectText(flash(admin), new RegExp(`^Refund of ${escape(money(total - 10))} (issued\\.|requested; Stripe reports it pending\\.)$`), 'the full refund flash');
  await waitForText(admin, admin.locator('#order-status'), /^Refunded$/, 'the order status after the full refund');
  await checkPage(admin, 'admin-order-refunded');
  await expectText(admin.locator('#order-refunded'), new RegExp(`^${escape(money(total))}$`), 'the refunded amount');
  assert.equal(await refundRows(admin).count(), 2, 'two refunds listed');
  await expectAbsent(admin.getByRole('button', { name: 'Refund', exact: true }), '"Refund" button on a fully refunded order');

  // The orders list shows it refunded.
  await visit(admin, `/admin?q=${encodeURIComponent(number)}`, 'admin-orders-refunded');
  await expectText(admin.locator('#orders tbody tr'), new RegExp(`^${escape(number)} .* Refunded ${escape(money(total))} ${escape(money(total))}$`), 'the order row after refunding');

  // The customer's order page shows both refunds.
  await visit(page, `/account/orders/${number}`, 'customer-order');
  await expectVisible(page.getByRole('heading', { level: 1, name: `Order ${number}` }), 'the order heading');
  await expectText(page.locator('#order-status'), /^Refunded$/, 'the order status the customer sees');
  await expectVisible(page.getByRole('heading', { level: 2, name: 'Refunds' }), 'the "Refunds" heading');
  const customerRefunds = refundRows(page);
  assert.equal(await customerRefunds.count(), 2, 'the customer sees two refunds');
  const amounts = (await page.locator('#refunds .refund-amount').allInnerTexts()).map((s) => s.trim()).sort();
  assert.deepEqual(amounts, [money(10), money(total - 10)].sort(), 'the refund amounts the customer sees');
  for (const s of await page.locator('#refunds .refund-status').allInnerTexts()) {
    assert.equal(s.trim(), 'Succeeded', 'each refund succeeded');
  }
  await expectAbsent(page.getByText('requested_by_customer'), 'the refund reason code on the customer page');
  await expectAbsent(page.getByText('One tote came back'), "the admin's note on the customer page");
});

journey('admin: a customer who opens /admin gets the 403 page', async ({ page }) => {
  await register(page, 'curious.customer@example.com');
  await expectAbsent(mainNav(page).getByRole('link', { name: 'Admin', exact: true }), '"Admin" link for a customer');
  await visit(page, '/admin', 'admin-forbidden', { status: 403 });
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Not allowed' }), 'the "Not allowed" heading');
  await expectText(page.getByRole('main'), "You don't have access to this page.", 'the 403 message');
  await expectText(page.getByRole('main'), 'Error 403', 'the status on the page');
  await expectAbsent(page.locator('#orders'), 'the orders table on the 403 page');
  expectPath(page, '/admin');
});

journey('admin: a customer lost the receipt: find the order by its charge and re-send it', async ({ page, shop, newPage }) => {
  const email = 'lost.receipt@example.com';
  await register(page, email);
  const number = await buyTotes(page, shop, { email, quantity: 3 });

  const admin = await newPage();
  await signIn(admin, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  await visit(admin, `/admin/orders/${number}`, 'admin-order');
  const charge = await expectText(admin.locator('#charge'), /^ch_\S+$/, 'the charge id');

  // The customer only has the charge id from their bank: the search asks Stripe which payment it is.
  await visit(admin, '/admin', 'admin-orders');
  await admin.getByLabel(/^Order number, e-mail, or Stripe id/).fill(charge);
  await admin.getByRole('main').getByRole('button', { name: 'Search', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin' && u.searchParams.get('q') === charge);
  await checkPage(admin, 'admin-orders-by-charge');
  await expectText(admin.locator('#search-note'), new RegExp(`^Charge ${escape(charge)} belongs to PaymentIntent pi_\\S+\\.$`), 'the search note');
  const rows = admin.locator('#orders tbody tr');
  assert.equal(await rows.count(), 1, 'the charge finds one order');
  await rows.getByRole('link', { name: number, exact: true }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}`);

  // Re-send the receipt: one mail, written in the audit trail.
  await admin.getByRole('button', { name: 'Re-send receipt', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}`);
  await checkPage(admin, 'admin-order-receipt-resent');
  await expectText(flash(admin), new RegExp(`^Receipt sent again to ${escape(email)}\\.$`), 'the "sent again" flash');
  await expectText(admin.locator('#audit'), new RegExp(`receipt re-sent.*receipt sent again to ${escape(email)}`), 'the audit trail');

  // The customer's receipts link the refund policy, as the footer does.
  await page.getByRole('contentinfo').getByRole('link', { name: 'Refund policy', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/refund-policy');
  await checkPage(page, 'refund-policy');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Refund policy' }), 'the policy heading');
});

journey('admin: the Stripe events inbox, catching up, and the health checks', async ({ page, shop, newPage }) => {
  const email = 'events.watcher@example.com';
  await register(page, email);
  const number = await buyTotes(page, shop, { email, quantity: 3 });

  const admin = await newPage();
  await signIn(admin, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  // The dashboard's webhook figures lead to the inbox.
  await visit(admin, '/admin/dashboard', 'admin-dashboard');
  await admin.locator('#events a').click();
  await admin.waitForURL((u) => u.pathname === '/admin/events');
  await checkPage(admin, 'admin-events');
  await expectVisible(admin.getByRole('heading', { level: 1, name: 'Stripe events' }), 'the inbox heading');
  const paid = admin.locator('#events tbody tr').filter({ hasText: 'checkout.session.completed' });
  await expectText(paid, new RegExp(`${escape(number)}.*applied paid`), 'the payment event and its order');

  // Filter by outcome.
  await admin.getByLabel('Outcome', { exact: true }).selectOption('ignored');
  await admin.getByRole('button', { name: 'Filter', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/events' && u.searchParams.get('outcome') === 'ignored');
  await checkPage(admin, 'admin-events-ignored');
  await expectAbsent(admin.locator('#events tbody tr').filter({ hasText: 'checkout.session.completed' }), 'the applied payment among ignored events');

  // Catch up now.
  await admin.getByRole('button', { name: 'Catch up now', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/events');
  await checkPage(admin, 'admin-events-caught-up');
  await expectText(flash(admin), /^Caught up on the last 24 hours: \d+ events seen, \d+ already processed, 0 processed now, 0 failed\.$/, 'the catch-up report');

  // The health checks.
  await admin.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Stripe health', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/health');
  await checkPage(admin, 'admin-health');
  await expectText(admin.locator('#health-ok'), /^Nothing is failing\.$/, 'the health summary');
  await expectText(admin.locator('#checks tbody tr').filter({ hasText: 'signing secret' }), /signing secret ok a signed test event/, 'the signing secret round trip');
});
