// Shipping journeys (issue #15): a physical purchase where the shopper gives the address and
// picks Express on the Stripe emulator's hosted page, the order's address, rate and total on the
// shop's pages; then the admin's "Awaiting shipment" queue, the packing slip, "Mark shipped" with
// a UPS tracking number and "Mark delivered", each step on the customer's order timeline and in
// the mailbox. Also a digital purchase: no address, a download and a licence key.
import assert from 'node:assert/strict';
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectAbsent, expectText, fillShippingAddress,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'storefront-demo-admin';
const CARD_OK = '4242424242424242';
const TOTE = 'Canvas tote bag';
const TRACKING = '1Z999AA10123456784';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exactly = (s) => new RegExp(`^${escape(s)}$`);

async function register(page, email) {
  await visit(page, '/account/register', 'register');
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Password (at least 12 characters)', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Password again', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account');
}

async function signInAdmin(admin) {
  await visit(admin, '/account/login', 'admin-login');
  await admin.getByLabel('E-mail', { exact: true }).fill(ADMIN_EMAIL);
  await admin.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/account');
}

/** Reload until the locator's text matches (webhooks land asynchronously). */
async function waitForText(page, locator, pattern, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await locator.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(text)} does not match ${pattern}`);
    await new Promise((r) => setTimeout(r, 250));
    await page.reload({ waitUntil: 'load' });
  }
}

async function timeline(page) {
  return (await page.locator('#timeline li').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
}

journey('shipping: an address and Express on the payment page, then shipped with tracking and delivered', async ({ page, newPage }) => {
  const email = 'parcel.shopper@example.com';
  await register(page, email);
  await visit(page, '/products/canvas-tote', 'product');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await checkPage(page, 'cart-with-shipping');
  // The cart tells what shipping costs, and when it is free.
  assert.deepEqual(
    (await page.locator('#shipping-rates li').allInnerTexts()).map((s) => s.trim()),
    ['Standard shipping: $5.00 (3–5 business days), free from $50.00', 'Express shipping: $15.00 (1–2 business days)'],
    'the rates on the cart page',
  );
  await expectVisible(page.locator('#free-shipping-note'), 'when free shipping is decided');

  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  const payURL = page.url();
  await checkPage(page, 'payment-shipping');
  await expectText(page.locator('#shipping'), exactly('$5.00'), 'standard shipping, preselected');
  await expectText(page.locator('#total'), exactly('$23.00'), 'the total with standard shipping');

  // The shopper gives the address and picks Express; "Update total" shows the new total.
  await fillShippingAddress(page);
  await page.getByRole('radio', { name: /Express shipping/ }).check();
  await page.getByRole('button', { name: 'Update total', exact: true }).click();
  await page.waitForURL((u) => u.href === payURL);
  await checkPage(page, 'payment-express');
  await expectText(page.locator('#shipping'), exactly('$15.00'), 'Express shipping');
  await expectText(page.locator('#total'), exactly('$33.00'), 'the total with Express');
  await page.getByLabel('Card number').fill(CARD_OK);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: 'Pay $33.00', exact: true }).click();

  await page.waitForURL((u) => u.pathname === '/checkout/success');
  const heading = await expectText(page.getByRole('heading', { level: 1 }), /^Thank you! Order SF-\S+$/, 'the success heading');
  const number = heading.match(/Order (SF-\S+)$/)[1];
  await waitForText(page, page.locator('#order-status'), /^Paid$/, 'the order status');
  await checkPage(page, 'success-shipping');
  await expectText(page.locator('#order-shipping'), exactly('$15.00'), 'shipping on the success page');
  await expectText(page.locator('#items #order-total'), exactly('$33.00'), 'the total on the success page');

  await visit(page, `/account/orders/${number}`, 'customer-order-unshipped');
  await expectText(page.locator('#ship-to'), 'Ada Lovelace', 'where it goes');
  await expectText(page.locator('#ship-rate'), exactly('Shipping method: Express shipping'), 'how it goes');
  assert.ok((await timeline(page)).at(-1).startsWith('Preparing your order'), 'the next step');

  // The admin: the queue, the packing slip, "Mark shipped".
  const admin = await newPage();
  await signInAdmin(admin);
  await visit(admin, '/admin/shipping', 'admin-shipping-queue');
  const row = admin.locator('#shipping-queue tbody tr').filter({ hasText: number });
  await expectText(row, 'Ada Lovelace, New York, US', 'the order in the queue');
  await row.getByRole('link', { name: 'Print' }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}/packing-slip`);
  await checkPage(admin, 'admin-packing-slip');
  await expectText(admin.locator('#slip-address'), 'Ada Lovelace', 'the address on the slip');
  await expectText(admin.locator('#slip-lines tbody tr'), `${TOTE} 1 1`, 'what goes in the box');
  await expectAbsent(admin.getByText('$18.00'), 'prices on the packing slip');

  await visit(admin, `/admin/orders/${number}`, 'admin-order-to-ship');
  await expectText(admin.locator('#fulfilment-status'), exactly('Not shipped yet'), 'the fulfilment status');
  const form = admin.locator('#ship-form');
  // An empty tracking number is refused with a message, and nothing is recorded.
  allowStatus(admin, `/admin/orders/${number}/shipments`, 422);
  await form.getByRole('button', { name: 'Mark shipped' }).click();
  await expectText(admin.locator('#tracking_number-error'), exactly("Enter the parcel's tracking number."), 'the empty tracking message');
  await checkPage(admin, 'admin-ship-refused');
  await form.getByLabel('Carrier').selectOption('ups');
  await form.getByLabel('Tracking number').fill(TRACKING);
  await form.getByRole('button', { name: 'Mark shipped' }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}`);
  await checkPage(admin, 'admin-order-shipped');
  await expectText(admin.locator('.flash').first(), `tracking number ${TRACKING}`, 'the flash');
  await expectText(admin.locator('#fulfilment-status'), exactly('Shipped'), 'the fulfilment status');
  await expectAbsent(admin.locator('#ship-form'), 'a ship form with nothing left to ship');

  // The customer sees the parcel and its tracking link; the mailbox has the e-mail.
  await visit(page, `/account/orders/${number}`, 'customer-order-shipped');
  const steps = await timeline(page);
  assert.ok(steps.some((s) => s.startsWith('Shipped') && s.includes(`1 × ${TOTE}, with UPS`) && s.includes(TRACKING)), JSON.stringify(steps));
  assert.equal(
    await page.getByRole('link', { name: TRACKING }).getAttribute('href'),
    `https://www.ups.com/track?tracknum=${TRACKING}`,
    'the tracking link',
  );
  await visit(admin, '/admin/mail', 'admin-mail');
  await expectVisible(admin.getByRole('heading', { name: `Order ${number} has shipped` }), 'the shipped e-mail');

  // Delivered.
  await visit(admin, `/admin/orders/${number}`, 'admin-order-shipped-again');
  await admin.getByRole('button', { name: 'Mark delivered' }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}`);
  await expectText(admin.locator('#fulfilment-status'), exactly('Delivered'), 'the fulfilment status');
  await visit(page, `/account/orders/${number}`, 'customer-order-delivered');
  assert.ok((await timeline(page)).some((s) => s.startsWith('Delivered')), 'the delivery on the timeline');
  await expectAbsent(page.getByText('Preparing your order'), 'the "preparing" step once delivered');
});

journey('digital: a map to download and an app licence key, no address asked', async ({ page }) => {
  for (const [slug, quantity] of [['harbour-map', 1], ['field-guide-app', 1]]) {
    await visit(page, `/products/${slug}`, `product-${slug}`);
    await page.getByLabel('Quantity', { exact: true }).fill(String(quantity));
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await page.waitForURL((u) => u.pathname === '/cart');
  }
  await checkPage(page, 'cart-digital');
  await expectAbsent(page.locator('#shipping-rates'), 'shipping rates for a digital-only cart');
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  await checkPage(page, 'payment-digital');
  await expectAbsent(page.getByRole('group', { name: 'Shipping address' }), 'a shipping address for digital goods');
  await expectText(page.locator('#total'), exactly('$16.00'), 'the total, without shipping');
  await page.getByLabel('Email', { exact: true }).fill('reader@example.com');
  await page.getByLabel('Card number').fill(CARD_OK);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: 'Pay $16.00', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/checkout/success');
  await waitForText(page, page.locator('#order-status'), /^Paid$/, 'the order status');
  await checkPage(page, 'success-digital');
  await expectText(page.locator('.licence-key'), /^FG-DEMO-\S+$/, 'the licence key');
  const download = page.getByRole('link', { name: 'Download harbour-map.svg' });
  await expectVisible(download, 'the download link');
  const href = await download.getAttribute('href');
  const res = await page.request.get(href);
  assert.equal(res.status(), 200, 'the download');
  assert.match(res.headers()['content-disposition'], /attachment; filename="harbour-map.svg"/);
  assert.ok((await res.text()).startsWith('<svg'), 'the file');
  // Reloaded, the page counts the download.
  await page.reload({ waitUntil: 'load' });
  await expectText(page.locator('.digital-line').first(), '1 of 5 downloads used', 'the download count');
});
