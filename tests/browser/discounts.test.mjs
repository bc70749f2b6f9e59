// Discount and tax journeys (issue #14): promotion codes typed on the Stripe emulator's hosted
// Checkout page, Stripe Tax on a German billing address, and the order's breakdown (subtotal,
// discount, tax, total) on the shop's success page, the customer's order page and the admin's
// order page, with the admin's per-line refund proposals. Also: the hosted page's messages for
// an unknown and an expired code (the page still pays afterwards), and a 100 %-off code that
// makes a paid order at $0.00 without card fields and without a refund form.
//
// Coupons and promotion codes are made through the emulator's Stripe API (as a merchant would in
// the Dashboard), and the expired code through its test clock (`/_emulator/clock/advance`). The
// emulator's origin comes from the shop's log (shop.emulatorURL()). Each journey has its own shop
// and emulator (fresh database, emulator state in memory), so codes and e-mails can be fixed.
import assert from 'node:assert/strict';
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectAbsent, expectText,
  fillShippingAddress,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'storefront-demo-admin';
const CARD_OK = '4242424242424242';
const EMAIL = 'shopper@example.com';

const TOTE = { slug: 'canvas-tote', name: 'Canvas tote bag', price: 18 };
const PRINT = { slug: 'harbour-print', name: 'Limited print: Harbour at dawn', price: 45 };

/** A German address, for the parcel and the bill: 19 % VAT in the emulator's test rate table. */
const BERLIN = { name: 'Ada Lovelace', country: 'DE', line1: 'Unter den Linden 1', city: 'Berlin', postalCode: '10117' };

const money = (n) => `$${n.toFixed(2)}`;
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A whole-text RegExp for a string. */
const exactly = (s) => new RegExp(`^${escape(s)}$`);

// ---------------------------------------------------------------------------------------------
// The emulator's API (the merchant's side)

/** POST (form-encoded) to the emulator with a test key; returns the JSON answer. */
async function emulatorPost(shop, path, params) {
  const emulator = shop.emulatorURL();
  assert.ok(emulator, "the shop logged the emulator's origin");
  const res = await fetch(new URL(path, emulator), {
    method: 'POST',
    headers: { Authorization: 'Bearer sk_test_demo' },
    body: new URLSearchParams(params),
  });
  const body = await res.json();
  assert.equal(res.status, 200, `POST ${path}: ${JSON.stringify(body)}`);
  return body;
}

/** The emulator's clock (unix seconds): its test clock, not the wall clock. */
async function emulatorNow(shop) {
  const res = await fetch(new URL('/_emulator/clock', shop.emulatorURL()), {
    headers: { Authorization: 'Bearer sk_test_demo' },
  });
  const body = await res.json();
  assert.equal(res.status, 200, `GET /_emulator/clock: ${JSON.stringify(body)}`);
  assert.equal(typeof body.now, 'number', `the emulator's time: ${JSON.stringify(body)}`);
  return body.now;
}

/** A percent-off coupon (duration once) and a promotion code `code` for it. */
async function promotionCode(shop, code, percentOff, extra = {}) {
  const coupon = await emulatorPost(shop, '/v1/coupons', { percent_off: String(percentOff), duration: 'once' });
  const promo = await emulatorPost(shop, '/v1/promotion_codes', {
    'promotion[type]': 'coupon',
    'promotion[coupon]': coupon.id,
    code,
    ...extra,
  });
  assert.equal(promo.code, code, JSON.stringify(promo));
  return promo;
}

// ---------------------------------------------------------------------------------------------
// The shop

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

/** The demo admin signs in (in its own browser context) and lands on /account. */
async function signInAdmin(admin) {
  await visit(admin, '/account/login', 'admin-login');
  await admin.getByLabel('E-mail', { exact: true }).fill(ADMIN_EMAIL);
  await admin.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/account');
  await checkPage(admin, 'admin-signed-in');
}

/** The product page → `quantity` → Add to cart → the cart. */
async function addToCart(page, product, quantity) {
  await visit(page, `/products/${product.slug}`, `product-${product.slug}`);
  await expectVisible(page.getByRole('heading', { level: 1, name: product.name }), `the ${product.name} heading`);
  await page.getByLabel('Quantity', { exact: true }).fill(String(quantity));
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await checkPage(page, `cart-${product.slug}`);
}

/** Press "Check out" in the cart and land on the emulator's payment page; returns its URL. */
async function checkOut(page, shop, { total }) {
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  assert.equal(new URL(page.url()).origin, new URL(shop.emulatorURL()).origin, 'the payment page is on the emulator');
  await checkPage(page, 'payment');
  await expectVisible(page.getByRole('heading', { level: 1, name: `Pay ${total}` }), `the "Pay ${total}" heading`);
  await expectText(page.locator('#total'), exactly(total), 'the total due before any code');
  await expectAbsent(page.locator('#discount'), 'discount row before a code is applied');
  return page.url();
}

// ---------------------------------------------------------------------------------------------
// The emulator's hosted Checkout page

/** The promotion code form's field and button. */
function codeForm(page) {
  return {
    field: page.getByLabel('Add promotion code', { exact: true }),
    apply: page.getByRole('button', { name: 'Apply', exact: true }),
  };
}

/**
 * Type `code` into "Add promotion code" and press Apply; the page comes back at
 * `{payURL}/promotion_code` (200 when applied, 400 with the reason when refused).
 * Returns the status.
 */
async function applyCode(page, payURL, code, name) {
  const { field, apply } = codeForm(page);
  await field.fill(code);
  const answered = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `${new URL(payURL).pathname}/promotion_code`,
  );
  await apply.click();
  const status = (await answered).status();
  await page.waitForURL((u) => u.pathname === `${new URL(payURL).pathname}/promotion_code`);
  await checkPage(page, name);
  return status;
}

/** A refused code: 400, the reason under the field (role="alert", described-by), nothing applied. */
async function expectRefusedCode(page, payURL, code, message, { total }, name) {
  allowStatus(page, `${payURL}/promotion_code`, 400);
  const status = await applyCode(page, payURL, code, name);
  assert.equal(status, 400, `the emulator answers a refused code (${code}) with 400`);
  const error = page.locator('#promotion_code_error');
  await expectText(error, exactly(message), `the message for ${code}`);
  assert.equal(await error.getAttribute('role'), 'alert', 'the code message is an alert');
  const { field } = codeForm(page);
  assert.equal(await field.getAttribute('aria-invalid'), 'true', 'the code field is marked invalid');
  assert.equal(await field.getAttribute('aria-describedby'), 'promotion_code_error', 'the code field is described by the message');
  assert.equal(await field.inputValue(), code, 'the typed code is kept');
  await expectAbsent(page.locator('#applied_promotion_code'), `applied code after ${code} was refused`);
  await expectAbsent(page.locator('#discount'), `discount row after ${code} was refused`);
  await expectText(page.locator('#total'), exactly(total), `the total after ${code} was refused`);
  await expectVisible(page.getByRole('button', { name: `Pay ${total}`, exact: true }), `the "Pay ${total}" button`);
}

/** The payment form's billing address fields (asked for when tax is on). */
async function fillBillingAddress(page, address) {
  const group = billing(page);
  await group.getByLabel('Country or region', { exact: true }).selectOption(address.country);
  await group.getByLabel('Address', { exact: true }).fill(address.line1);
  await group.getByLabel('City', { exact: true }).fill(address.city);
  await group.getByLabel('Postal code', { exact: true }).fill(address.postalCode);
}

/** The payment form's "Billing address" fieldset (the shipping address has the same labels). */
function billing(page) {
  return page.getByRole('group', { name: 'Billing address' });
}

/** Fill in the e-mail (unless prefilled) and the card, press "Pay $X"; returns the POST's status. */
async function payWithCard(page, total, { email = EMAIL } = {}) {
  await expectVisible(page.getByRole('heading', { level: 1, name: `Pay ${total}` }), `the "Pay ${total}" heading`);
  const emailField = page.getByLabel('Email', { exact: true });
  if ((await emailField.inputValue()) === '') await emailField.fill(email);
  // Filled already when the address decided the tax; otherwise the parcel goes to New York.
  if ((await page.getByRole('group', { name: 'Shipping address' }).getByLabel('City', { exact: true }).inputValue()) === '') {
    await fillShippingAddress(page);
  }
  await page.getByLabel('Card number').fill(CARD_OK);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  const answered = page.waitForResponse(
    (r) => r.request().method() === 'POST' && /^\/c\/pay\/cs_test_[^/]+$/.test(new URL(r.url()).pathname),
  );
  await page.getByRole('button', { name: `Pay ${total}`, exact: true }).click();
  return (await answered).status();
}

// ---------------------------------------------------------------------------------------------
// The order's pages

/** The success page, reloaded until the order is Paid (the webhook may land after the redirect). */
async function expectSuccessPage(page) {
  await page.waitForURL((u) => u.pathname === '/checkout/success');
  await checkPage(page, 'success');
  const heading = await expectText(page.getByRole('heading', { level: 1 }), /^Thank you! Order SF-\S+$/, 'the success heading');
  await waitForText(page, page.locator('#order-status'), /^Paid$/, 'the order status on the success page');
  await checkPage(page, 'success-paid');
  return heading.match(/Order (SF-\S+)$/)[1];
}

/**
 * The item table's footer: each row's label and amount, in order (Subtotal, Discount (CODE),
 * Tax, Total), with the ids the pages give them.
 */
async function expectBreakdown(page, rows, what) {
  const footer = page.locator('#items tfoot tr');
  const actual = (await footer.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
  assert.deepEqual(actual, rows.map(([label, amount]) => `${label} ${amount}`), `the breakdown under the items on ${what}`);
  const ids = { Subtotal: '#order-subtotal', Tax: '#order-tax', Total: '#order-total' };
  for (const [label, amount] of rows) {
    const id = label.startsWith('Discount') ? '#order-discount' : ids[label];
    if (id) await expectText(page.locator(`#items ${id}`), exactly(amount), `${label} (${id}) on ${what}`);
  }
}

/** The order's item rows: "name quantity unit total". */
async function expectItems(page, lines, what) {
  const rows = page.locator('#items tbody tr');
  const actual = (await rows.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
  assert.deepEqual(
    actual,
    lines.map(([product, quantity]) => `${product.name} ${quantity} ${money(product.price)} ${money(product.price * quantity)}`),
    `the item lines on ${what}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Journeys

journey('discounts: a 20 % code with tax on, paid, shown and refundable line by line', { shopEnv: { STRIPE_TAX: 'on' } }, async ({ page, shop, newPage }) => {
  const email = 'spring.shopper@example.com';
  await promotionCode(shop, 'SPRING20', 20);
  // The customer signs in first, so the order shows up on their account too.
  await register(page, email);
  await addToCart(page, TOTE, 2);
  await addToCart(page, PRINT, 1);
  const payURL = await checkOut(page, shop, { total: money(81) });

  // Tax is on: the page asks for the billing address and cannot tell the tax yet.
  await expectText(page.locator('#tax'), 'Enter your shipping address', 'the tax before an address');
  await expectVisible(page.getByRole('group', { name: 'Billing address' }), 'the "Billing address" fieldset');

  // The code: 20 % off each line, $7.20 + $9.00.
  const applied = await applyCode(page, payURL, 'SPRING20', 'payment-code-applied');
  assert.equal(applied, 200, 'SPRING20 is applied');
  await expectText(page.locator('#applied_promotion_code'), exactly('SPRING20'), 'the applied code');
  await expectVisible(page.getByRole('button', { name: 'Remove', exact: true }), 'the "Remove" button for the code');
  await expectAbsent(codeForm(page).field, '"Add promotion code" field once a code is applied');
  await expectText(page.locator('#subtotal'), exactly(money(81)), 'the subtotal');
  await expectText(page.locator('#discount_label'), exactly('SPRING20'), 'the discount label');
  await expectText(page.locator('#discount_amount'), exactly('-$16.20'), 'the discount');
  await expectText(page.locator('#total'), exactly(money(64.8)), 'the total after the code, before tax');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Pay $64.80' }), 'the "Pay $64.80" heading');

  // A German address: 19 % VAT on each line after its discount (5.47 + 6.84).
  await page.getByLabel('Email', { exact: true }).fill(email);
  // The parcel goes to Berlin too: Stripe Tax taxes where the goods go.
  await fillShippingAddress(page, BERLIN);
  await fillBillingAddress(page, BERLIN);
  await page.getByRole('button', { name: 'Update total', exact: true }).click();
  await page.waitForURL((u) => u.href === payURL);
  await checkPage(page, 'payment-taxed');
  await expectText(page.locator('#tax_label'), exactly('VAT (19%)'), 'the tax label');
  await expectText(page.locator('#tax'), exactly('$12.31'), 'the tax');
  await expectText(page.locator('#discount_amount'), exactly('-$16.20'), 'the discount after the address');
  await expectText(page.locator('#total'), exactly('$77.11'), 'the total with tax');
  await expectText(page.locator('#shipping'), exactly('Free'), 'shipping, free from $50.00 on the subtotal before the code');
  assert.equal(await billing(page).getByLabel('Country or region', { exact: true }).inputValue(), 'DE', 'the country is kept');
  assert.equal(await billing(page).getByLabel('City', { exact: true }).inputValue(), 'Berlin', 'the city is kept');
  assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), email, 'the e-mail is kept');

  const paid = await payWithCard(page, '$77.11');
  assert.equal(paid, 303, 'the payment goes through (303 back to the shop)');

  // The success page: the breakdown the hosted page showed.
  const number = await expectSuccessPage(page);
  await expectItems(page, [[TOTE, 2], [PRINT, 1]], 'the success page');
  const breakdown = [
    ['Subtotal', '$81.00'],
    ['Discount (SPRING20)', '−$16.20'],
    ['Tax', '$12.31'],
    ['Total', '$77.11'],
  ];
  await expectBreakdown(page, breakdown, 'the success page');

  // The customer's order page.
  await visit(page, `/account/orders/${number}`, 'customer-order');
  await expectVisible(page.getByRole('heading', { level: 1, name: `Order ${number}` }), 'the order heading');
  await expectText(page.locator('#order-status'), /^Paid$/, 'the order status the customer sees');
  await expectItems(page, [[TOTE, 2], [PRINT, 1]], "the customer's order page");
  await expectBreakdown(page, breakdown, "the customer's order page");

  // The admin's order page: the same footer, and what each line would refund.
  const admin = await newPage();
  await signInAdmin(admin);
  await visit(admin, `/admin/orders/${number}`, 'admin-order');
  await expectVisible(admin.getByRole('heading', { level: 1, name: `Order ${number}` }), 'the order heading');
  await expectText(admin.locator('#order-status'), /^Paid$/, 'the order status the admin sees');
  await expectText(admin.locator('#customer-email'), exactly(email), "the customer's e-mail");
  await expectItems(admin, [[TOTE, 2], [PRINT, 1]], 'the admin order page');
  // The admin page shows the total in the summary above, next to the amount refunded, not
  // under the items.
  await expectBreakdown(admin, breakdown.filter(([label]) => label !== 'Total'), 'the admin order page');
  await expectText(admin.locator('#order-total'), exactly('$77.11'), 'the order total the admin sees');
  await expectText(admin.locator('#refundable'), 'Still refundable: $77.11', 'what is still refundable');
  const amount = admin.getByLabel(/^Amount \(/);
  assert.equal(await amount.inputValue(), '77.11', 'the amount is prefilled with everything that was paid');
  // Each line: its price less its share of the discount, plus its tax; together the total.
  const proposals = admin.locator('a.line-proposal');
  assert.deepEqual(
    (await proposals.allInnerTexts()).map((s) => s.trim()),
    ['Refund this line: $34.27', 'Refund this line: $42.84'],
    'the per-line refund proposals (tote bags: 28.80 + 5.47 tax; print: 36.00 + 6.84 tax)',
  );
  await admin.getByRole('link', { name: 'Refund this line: $34.27', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === `/admin/orders/${number}` && u.searchParams.has('line'));
  await checkPage(admin, 'admin-order-line-proposed');
  assert.equal(await admin.getByLabel(/^Amount \(/).inputValue(), '34.27', "the first line's proposal fills the amount");
  assert.equal(await admin.locator('form.refund-form').getByLabel(`${TOTE.name} (0 to 2)`, { exact: true }).inputValue(), '2', 'both tote bags go back to stock');
  assert.equal(await admin.locator('form.refund-form').getByLabel(`${PRINT.name} (0 to 1)`, { exact: true }).inputValue(), '0', 'the print stays sold');
  await expectVisible(admin.getByRole('button', { name: 'Refund', exact: true }), 'the "Refund" button');
  await expectText(admin.locator('#refundable'), 'Still refundable: $77.11', 'what is still refundable after choosing a line');
});

journey('discounts: an unknown and an expired code show their message, then the page still pays', async ({ page, shop }) => {
  // A code that expires in a minute, by the emulator's clock.
  const now = await emulatorNow(shop);
  await promotionCode(shop, 'SOONGONE', 10, { expires_at: String(now + 60) });

  await addToCart(page, TOTE, 1);
  // One tote ($18.00) and standard shipping ($5.00).
  const total = money(TOTE.price + 5);
  const payURL = await checkOut(page, shop, { total });

  await expectRefusedCode(page, payURL, 'NOSUCHCODE', 'This code is invalid.', { total }, 'payment-code-invalid');

  // Two minutes later (the emulator's test clock), the code has expired.
  await emulatorPost(shop, '/_emulator/clock/advance', { seconds: '120' });
  await expectRefusedCode(page, payURL, 'SOONGONE', 'This code has expired.', { total }, 'payment-code-expired');

  // The page still pays, at the full price.
  const paid = await payWithCard(page, total);
  assert.equal(paid, 303, 'the payment goes through (303 back to the shop)');
  await expectSuccessPage(page);
  await expectItems(page, [[TOTE, 1]], 'the success page');
  await expectText(page.locator('#items #order-total'), exactly(total), 'the order total');
  await expectAbsent(page.locator('#order-discount'), 'discount row on an order without a code');
});

journey('discounts: a 100 % code makes a free order, paid at $0.00, nothing to refund', async ({ page, shop, newPage }) => {
  await promotionCode(shop, 'FREE100', 100);
  // Three totes: $54.00 ships free, so the code leaves nothing to pay.
  await addToCart(page, TOTE, 3);
  const payURL = await checkOut(page, shop, { total: money(TOTE.price * 3) });

  const applied = await applyCode(page, payURL, 'FREE100', 'payment-free');
  assert.equal(applied, 200, 'FREE100 is applied');
  await expectText(page.locator('#applied_promotion_code'), exactly('FREE100'), 'the applied code');
  await expectText(page.locator('#discount_amount'), exactly('-$54.00'), 'the discount');
  await expectText(page.locator('#total'), exactly('$0.00'), 'the total');
  // Nothing to pay: no card fields, just "Complete order".
  await expectAbsent(page.getByLabel('Card number'), '"Card number" field on a free order');
  await expectAbsent(page.getByLabel('CVC'), '"CVC" field on a free order');
  await expectAbsent(page.getByRole('button', { name: /^Pay / }), '"Pay" button on a free order');
  const emailField = page.getByLabel('Email', { exact: true });
  if ((await emailField.inputValue()) === '') await emailField.fill(EMAIL);
  // Free, but still a parcel: the page asks where it goes.
  await fillShippingAddress(page);
  const complete = page.getByRole('button', { name: 'Complete order', exact: true });
  await expectVisible(complete, 'the "Complete order" button');
  await complete.click();

  const number = await expectSuccessPage(page);
  await expectItems(page, [[TOTE, 3]], 'the success page');
  await expectBreakdown(page, [
    ['Subtotal', '$54.00'],
    ['Discount (FREE100)', '−$54.00'],
    ['Total', '$0.00'],
  ], 'the success page');

  // The admin sees it paid at $0.00, with nothing to refund.
  const admin = await newPage();
  await signInAdmin(admin);
  await visit(admin, `/admin/orders/${number}`, 'admin-order');
  await expectText(admin.locator('#order-status'), /^Paid$/, 'the order status the admin sees');
  await expectText(admin.locator('#payment-intent'), /^None$/, 'no PaymentIntent for a free order');
  await expectBreakdown(admin, [['Subtotal', '$54.00'], ['Discount (FREE100)', '−$54.00']], 'the admin order page');
  await expectText(admin.locator('#order-total'), exactly('$0.00'), 'the order total the admin sees');
  await expectAbsent(admin.locator('form.refund-form'), 'refund form on an order paid at $0.00');
  await expectAbsent(admin.getByRole('button', { name: 'Refund', exact: true }), '"Refund" button on an order paid at $0.00');
});
