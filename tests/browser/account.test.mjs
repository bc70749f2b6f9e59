// Account journeys: registering (and its validation messages), signing in and out, and a
// customer's coffee-club subscription from the guest's first click through the emulator's hosted
// Checkout to switching plans, cancelling at period end, resuming, and the emulator's Billing
// Portal.
//
// Every journey registers its own customer in its own shop (fresh database), so the e-mail
// addresses can be fixed.
import assert from 'node:assert/strict';
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectAbsent, expectText, expectPath,
  fillShippingAddress,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const CARD_OK = '4242424242424242';
const COFFEE = 'Coffee club subscription';
const MONTHLY = '$15.00 / month';
const YEARLY = '$150.00 / year';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** "26 December 2026": how the shop writes a date. */
const DATE = String.raw`\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|November|December) \d{4}`;

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

/** The header shows "Account" and "Sign out", not "Sign in". */
async function expectSignedIn(page) {
  const nav = mainNav(page);
  await expectVisible(nav.getByRole('button', { name: 'Sign out', exact: true }), 'the "Sign out" button in the header');
  await expectVisible(nav.getByRole('link', { name: 'Account', exact: true }), 'the "Account" link in the header');
  await expectAbsent(nav.getByRole('link', { name: 'Sign in', exact: true }), '"Sign in" link in the header when signed in');
}

/** The header shows "Sign in", not "Account" or "Sign out". */
async function expectSignedOut(page) {
  const nav = mainNav(page);
  await expectVisible(nav.getByRole('link', { name: 'Sign in', exact: true }), 'the "Sign in" link in the header');
  await expectAbsent(nav.getByRole('button', { name: 'Sign out' }), '"Sign out" button in the header when signed out');
  await expectAbsent(nav.getByRole('link', { name: 'Account', exact: true }), '"Account" link in the header when signed out');
}

/** The registration form's fields. */
function registerFields(page) {
  return {
    email: page.getByLabel('E-mail', { exact: true }),
    password: page.getByLabel('Password (at least 12 characters)', { exact: true }),
    confirmation: page.getByLabel('Password again', { exact: true }),
  };
}

/**
 * The field is marked invalid and described by an error message shown next to it (a
 * `.field-error` right before the field, referenced by aria-describedby) with this text.
 */
async function expectFieldError(page, field, pattern, what) {
  await expectVisible(field, what);
  assert.equal(await field.getAttribute('aria-invalid'), 'true', `${what} is marked aria-invalid`);
  const describedBy = (await field.getAttribute('aria-describedby')) ?? '';
  assert.ok(describedBy.trim(), `${what} has aria-describedby`);
  const message = page.locator(describedBy.trim().split(/\s+/).map((id) => `[id="${id}"]`).join(', '));
  await expectText(message, pattern, `the error message for ${what}`);
  assert.equal(await message.getAttribute('class'), 'field-error', `the error for ${what} is a .field-error`);
  // Next to the field: the message is the field's previous element sibling.
  const sibling = await field.evaluate((el) => el.previousElementSibling?.id ?? null);
  assert.equal(sibling, describedBy.trim(), `the error for ${what} is shown right before the field`);
}

/** The field carries no error. */
async function expectNoFieldError(field, what) {
  await expectVisible(field, what);
  assert.equal(await field.getAttribute('aria-invalid'), null, `${what} is not marked aria-invalid`);
  assert.equal(await field.getAttribute('aria-describedby'), null, `${what} has no error message`);
}

/** The subscription's card on /account/subscriptions. */
function subscriptionCard(page) {
  return page.getByRole('main').getByRole('article', { name: COFFEE, exact: true });
}

/**
 * The subscriptions page lists the coffee club with this plan and status, the renewal (or end)
 * date, and the buttons that go with it.
 */
async function expectSubscription(page, { plan, status, ends = false }) {
  await expectVisible(page.getByRole('heading', { level: 2, name: 'Subscriptions' }), 'the "Subscriptions" heading');
  const card = subscriptionCard(page);
  await expectVisible(card.getByRole('heading', { level: 3, name: COFFEE }), `the "${COFFEE}" heading`);
  await expectText(card.locator('.status'), new RegExp(`^${escape(status)}$`), 'the subscription status');
  await expectText(card, new RegExp(`${escape(plan)} · ${escape(status)}`), 'the plan and status');
  const other = plan === MONTHLY ? YEARLY : MONTHLY;
  await expectVisible(card.getByRole('button', { name: `Switch to ${other}`, exact: true }), `the "Switch to ${other}" button`);
  if (ends) {
    await expectText(card, new RegExp(`Ends on ${DATE}\\.`), 'the end date');
    await expectAbsent(card.getByText(/Renews on/), '"Renews on" on a cancelled subscription');
    await expectVisible(card.getByRole('button', { name: 'Resume subscription', exact: true }), 'the "Resume subscription" button');
    await expectAbsent(card.getByRole('button', { name: 'Cancel at period end' }), '"Cancel at period end" on a cancelled subscription');
  } else {
    await expectText(card, new RegExp(`Renews on ${DATE}\\.`), 'the renewal date');
    await expectAbsent(card.getByText(/Ends on/), '"Ends on" on an active subscription');
    await expectVisible(card.getByRole('button', { name: 'Cancel at period end', exact: true }), 'the "Cancel at period end" button');
    await expectAbsent(card.getByRole('button', { name: 'Resume subscription' }), '"Resume subscription" on an active subscription');
  }
  await expectVisible(page.getByRole('main').getByRole('button', { name: 'Manage billing', exact: true }), 'the "Manage billing" button');
  // Only the one subscription.
  assert.equal(await page.getByRole('main').getByRole('article').count(), 1, 'one subscription listed');
}

/** The date a subscription card gives ("Renews on X." / "Ends on X."). */
async function cardDate(page) {
  const text = await subscriptionCard(page).innerText();
  return text.match(new RegExp(`(?:Renews|Ends) on (${DATE})\\.`))?.[1];
}

// ---------------------------------------------------------------------------------------------
// Steps

/** Fill in and send the registration form (already on /account/register). */
async function fillRegister(page, { email, password, confirmation = password }) {
  const f = registerFields(page);
  await f.email.fill(email);
  await f.password.fill(password);
  await f.confirmation.fill(confirmation);
  await page.getByRole('button', { name: 'Create account', exact: true }).click();
}

/** Register from /account/register and land on /account with the welcome flash. */
async function register(page, email) {
  await visit(page, '/account/register', 'register');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Create an account' }), 'the "Create an account" heading');
  await fillRegister(page, { email, password: PASSWORD });
  await page.waitForURL((u) => u.pathname === '/account');
  await checkPage(page, 'account-welcome');
  await expectText(flash(page), /^Welcome! Your account is ready\./, 'the welcome flash');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Your account' }), 'the "Your account" heading');
  await expectText(page.getByRole('main'), `Signed in as ${email}`, 'the signed-in e-mail');
  await expectSignedIn(page);
}

/** Fill in and send the sign-in form (already on /account/login). */
async function fillLogin(page, { email, password }) {
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Press a "Subscribe …" button on the coffee club page (signed in) and land on the emulator. */
async function subscribeMonthly(page, shop) {
  await page.getByRole('button', { name: `Subscribe monthly — ${MONTHLY}`, exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  const emulator = shop.emulatorURL();
  assert.ok(emulator, "the shop logged the emulator's origin");
  assert.equal(new URL(page.url()).origin, new URL(emulator).origin, 'the subscription Checkout page is on the emulator');
  await checkPage(page, 'subscription-checkout');
}

/** On the emulator's Checkout page for the monthly plan: pay with the good card. */
async function payMonthly(page, email) {
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Subscribe $15.00' }), 'the "Subscribe $15.00" heading');
  await expectText(
    page.getByRole('row').filter({ hasText: COFFEE }),
    new RegExp(`^${escape(COFFEE)} \\(every month\\) 1 \\$15\\.00 \\$15\\.00$`),
    'the subscription line on the Checkout page',
  );
  await expectText(page.locator('#total'), /^\$15\.00$/, 'the total due today');
  const emailField = page.getByLabel('Email', { exact: true });
  assert.equal(await emailField.inputValue(), email, "the customer's e-mail is prefilled on the Checkout page");
  // The coffee ships every month: the page asks where to (no rates: delivery is in the price).
  await fillShippingAddress(page);
  await expectAbsent(page.getByRole('group', { name: 'Shipping method' }), 'shipping options on a subscription');
  await page.getByLabel('Card number').fill(CARD_OK);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/subscriptions');
  expectPath(page, /^\/account\/subscriptions\?session_id=cs_test_/);
  await checkPage(page, 'subscriptions-new');
}

/** Press a button on the subscription card and land back on /account/subscriptions. */
async function pressOnCard(page, button, name) {
  await subscriptionCard(page).getByRole('button', { name: button, exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/subscriptions' && u.search === '');
  await checkPage(page, name);
}

/** A signed-in customer with an active monthly subscription, on /account/subscriptions. */
async function subscribedCustomer(page, shop, email) {
  await register(page, email);
  await visit(page, '/products/coffee-club', 'coffee-club');
  await subscribeMonthly(page, shop);
  await payMonthly(page, email);
  await expectSubscription(page, { plan: MONTHLY, status: 'Active' });
}

// ---------------------------------------------------------------------------------------------
// Journeys

journey('account: a guest subscribes, switches to yearly, cancels and resumes', async ({ page, shop }) => {
  const email = 'coffee.lover@example.com';
  // A guest presses "Subscribe monthly" and is asked to sign in first.
  await visit(page, '/products/coffee-club', 'coffee-club-guest');
  await expectSignedOut(page);
  await page.getByRole('button', { name: `Subscribe monthly — ${MONTHLY}`, exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/login');
  await checkPage(page, 'login-to-subscribe');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/products/coffee-club', 'sign-in comes back to the product');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Sign in' }), 'the "Sign in" heading');
  // New here: create an account instead, and come back to the product.
  await page.getByRole('main').getByRole('link', { name: 'Create an account', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/register');
  await checkPage(page, 'register-to-subscribe');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/products/coffee-club', 'registering comes back to the product');
  await fillRegister(page, { email, password: PASSWORD });
  await page.waitForURL((u) => u.pathname === '/products/coffee-club');
  await checkPage(page, 'coffee-club-signed-in');
  await expectVisible(page.getByRole('heading', { level: 1, name: COFFEE }), 'the product heading');
  await expectSignedIn(page);

  // Signed in, the same button opens the emulator's Checkout page for the subscription.
  await subscribeMonthly(page, shop);
  await payMonthly(page, email);
  await expectSubscription(page, { plan: MONTHLY, status: 'Active' });
  const renews = await cardDate(page);

  // Switch to yearly.
  await pressOnCard(page, `Switch to ${YEARLY}`, 'subscriptions-switched');
  await expectText(flash(page), new RegExp(`^Switched to ${escape(YEARLY)}\\.`), 'the "switched" flash');
  await expectSubscription(page, { plan: YEARLY, status: 'Active' });

  // Cancel at period end: still active until the end date.
  await pressOnCard(page, 'Cancel at period end', 'subscriptions-cancelled');
  const cancelled = await expectText(
    flash(page),
    new RegExp(`^Your subscription is cancelled\\. It stays active until ${DATE}\\.$`),
    'the "cancelled" flash',
  );
  await expectSubscription(page, { plan: YEARLY, status: 'Active until the end of the period', ends: true });
  const ends = await cardDate(page);
  assert.ok(cancelled.includes(ends), `the flash and the card give the same end date (${ends})`);

  // Resume.
  await pressOnCard(page, 'Resume subscription', 'subscriptions-resumed');
  const resumed = await expectText(flash(page), /^Welcome back! /, 'the "welcome back" flash');
  await expectSubscription(page, { plan: YEARLY, status: 'Active' });
  const renewsAgain = await cardDate(page);
  assert.ok(resumed.includes(renewsAgain), `the flash gives the renewal date on the card (${renewsAgain})`);
  assert.ok(renews, 'the first renewal date');

  // The flash is shown once.
  await visit(page, '/account/subscriptions', 'subscriptions-reloaded');
  await expectAbsent(flash(page), 'a flash after a reload');
  await expectSubscription(page, { plan: YEARLY, status: 'Active' });
});

journey('account: registering with bad input shows the messages next to the fields', async ({ page }) => {
  const email = 'careful.typist@example.com';
  await visit(page, '/account/register', 'register');
  const f = registerFields(page);
  // The form re-renders with 422 Unprocessable Content.
  allowStatus(page, '/account/register', 422);

  // Too short a password, and a confirmation that does not match.
  await fillRegister(page, { email, password: 'short', confirmation: 'shorter' });
  await page.waitForURL((u) => u.pathname === '/account/register');
  await checkPage(page, 'register-short-mismatch');
  assert.equal(await f.email.inputValue(), email, 'the typed e-mail is kept');
  assert.equal(await f.password.inputValue(), '', 'the password is not sent back');
  await expectNoFieldError(f.email, 'the "E-mail" field');
  await expectFieldError(page, f.password, /^Use at least 12 characters/, 'the "Password" field');
  await expectFieldError(page, f.confirmation, /^The two passwords don.t match\.$/, 'the "Password again" field');
  await expectSignedOut(page);

  // A long enough password, but the confirmation still does not match.
  await fillRegister(page, { email, password: PASSWORD, confirmation: `${PASSWORD}!` });
  await page.waitForURL((u) => u.pathname === '/account/register');
  await checkPage(page, 'register-mismatch');
  assert.equal(await f.email.inputValue(), email, 'the typed e-mail is kept');
  await expectNoFieldError(f.password, 'the "Password" field');
  await expectFieldError(page, f.confirmation, /^The two passwords don.t match\.$/, 'the "Password again" field');

  // Not an e-mail address.
  await fillRegister(page, { email: 'careful.typist', password: PASSWORD });
  await page.waitForURL((u) => u.pathname === '/account/register');
  await checkPage(page, 'register-bad-email');
  assert.equal(await f.email.inputValue(), 'careful.typist', 'the typed e-mail is kept');
  await expectFieldError(page, f.email, /e-mail address like name@example\.com/, 'the "E-mail" field');
  await expectNoFieldError(f.confirmation, 'the "Password again" field');

  // Right at last.
  await fillRegister(page, { email, password: PASSWORD });
  await page.waitForURL((u) => u.pathname === '/account');
  await checkPage(page, 'account-welcome');
  await expectText(flash(page), /^Welcome! Your account is ready\./, 'the welcome flash');
  await expectText(page.getByRole('main'), `Signed in as ${email}`, 'the signed-in e-mail');
  await expectSignedIn(page);
  await expectVisible(page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Orders' }), 'the "Orders" link');
  await expectVisible(page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Subscriptions' }), 'the "Subscriptions" link');
});

journey('account: sign out, a wrong password, then the right one', async ({ page }) => {
  const email = 'returning.customer@example.com';
  await register(page, email);

  // Sign out: the header offers "Sign in" again and the account page wants a sign-in.
  await mainNav(page).getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/');
  await checkPage(page, 'signed-out');
  await expectSignedOut(page);
  // /account sends a guest to the sign-in page (visit() follows the redirect).
  await visit(page, '/account', 'account-signed-out');
  expectPath(page, '/account/login?next=%2Faccount');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Sign in' }), 'the "Sign in" heading');

  // A wrong password: a generic message, the form again, still signed out.
  // The form comes back with 401 Unauthorized.
  allowStatus(page, '/account/login', 401);
  await fillLogin(page, { email, password: 'not my password at all' });
  await page.waitForURL((u) => u.pathname === '/account/login');
  await checkPage(page, 'login-wrong-password');
  await expectText(page.getByRole('main').getByRole('alert'), /^E-mail or password is wrong\.$/, 'the sign-in error');
  assert.equal(await page.getByLabel('E-mail', { exact: true }).inputValue(), email, 'the e-mail is kept');
  await expectAbsent(page.getByText(/no account|unknown|not found/i), 'a message revealing whether the account exists');
  await expectSignedOut(page);
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', 'the password field is empty again');
  await expectVisible(page.getByRole('link', { name: 'Forgot your password?' }), 'the "Forgot your password?" link');

  // An unknown e-mail gets the same message.
  await fillLogin(page, { email: 'nobody@example.com', password: PASSWORD });
  await page.waitForURL((u) => u.pathname === '/account/login');
  await checkPage(page, 'login-unknown-email');
  await expectText(page.getByRole('main').getByRole('alert'), /^E-mail or password is wrong\.$/, 'the sign-in error for an unknown e-mail');

  // The right password: back to the account, signed in.
  await fillLogin(page, { email, password: PASSWORD });
  await page.waitForURL((u) => u.pathname === '/account');
  await checkPage(page, 'account-signed-in');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Your account' }), 'the "Your account" heading');
  await expectText(page.getByRole('main'), `Signed in as ${email}`, 'the signed-in e-mail');
  await expectSignedIn(page);

  // "Sign out everywhere" on the account page ends every session, this one included.
  await page.getByRole('main').getByRole('button', { name: 'Sign out everywhere', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/login');
  await checkPage(page, 'signed-out-everywhere');
  await expectText(flash(page), /^You're signed out on every device, this one included\.$/, 'the "signed out everywhere" flash');
  await expectSignedOut(page);
});

journey('account: "Manage billing" opens the billing portal and comes back', async ({ page, shop }) => {
  const email = 'portal.user@example.com';
  await subscribedCustomer(page, shop, email);
  await openPortal(page, shop);
  await checkPage(page, 'billing-portal');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Billing' }), 'the "Billing" heading');
  await expectText(page.getByRole('main'), `Signed in as ${email}.`, "the customer's e-mail on the portal");
  await expectVisible(page.getByRole('heading', { level: 3, name: `${COFFEE} — ${MONTHLY}` }), 'the subscription on the portal');
  await expectVisible(page.getByRole('button', { name: 'Cancel subscription' }), 'the portal\'s "Cancel subscription" button');
  await expectText(page.getByRole('main'), 'Current card: visa ending in 4242', 'the card on file');
  await expectVisible(page.getByRole('button', { name: 'Update card' }), 'the "Update card" button');

  await page.getByRole('link', { name: /Return/ }).click();
  await page.waitForURL((u) => u.origin === shop.baseURL);
  expectPath(page, '/account/subscriptions');
  await checkPage(page, 'subscriptions-returned');
  await expectSubscription(page, { plan: MONTHLY, status: 'Active' });
  await expectSignedIn(page);

  // Cancelling on the portal reaches the shop too (through the emulator's webhook).
  await openPortal(page, shop);
  await page.getByRole('button', { name: 'Cancel subscription', exact: true }).click();
  await page.waitForURL((u) => /^\/p\/session\/[^/]+$/.test(u.pathname));
  await checkPage(page, 'billing-portal-cancelled');
  await expectText(page.getByRole('main'), /Cancels on \d{4}-\d{2}-\d{2}\./, 'the cancellation on the portal');
  await expectVisible(page.getByRole('button', { name: 'Resume subscription', exact: true }), 'the portal\'s "Resume subscription" button');
  await page.getByRole('link', { name: /Return/ }).click();
  await page.waitForURL((u) => u.origin === shop.baseURL && u.pathname === '/account/subscriptions');
  // The webhook is delivered asynchronously, as Stripe's are: allow it a few seconds.
  await waitForText(page, subscriptionCard(page), /Ends on /, 'the cancellation on the shop');
  await checkPage(page, 'subscriptions-cancelled-on-portal');
  await expectSubscription(page, { plan: MONTHLY, status: 'Active until the end of the period', ends: true });
});

/** Press "Manage billing" on /account/subscriptions and land on the emulator's portal. */
async function openPortal(page, shop) {
  await page.getByRole('main').getByRole('button', { name: 'Manage billing', exact: true }).click();
  await page.waitForURL((u) => /^\/p\/session\/[^/]+$/.test(u.pathname));
  assert.equal(new URL(page.url()).origin, new URL(shop.emulatorURL()).origin, 'the portal is on the emulator');
}

/** Reload the page (up to `timeoutMs`) until the locator's text matches. */
async function waitForText(page, locator, pattern, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await locator.innerText().catch(() => '')).replace(/\s+/g, ' ');
    if (pattern.test(text)) return;
    if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(text)} does not match ${pattern} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
    await page.reload({ waitUntil: 'load' });
  }
}

// Registering on the way to a subscription sends the customer back to the product page, which
// shows the "Welcome!" flash there (every page shows the flash left for it), not later.
journey(
  'account: the welcome flash shows on the product page after registering to subscribe',
  {},
  async ({ page, shop }) => {
    const email = 'eager.subscriber@example.com';
    await visit(page, '/account/register?next=/products/coffee-club', 'register-to-subscribe');
    await fillRegister(page, { email, password: PASSWORD });
    await page.waitForURL((u) => u.pathname === '/products/coffee-club');
    await checkPage(page, 'coffee-club-signed-in');
    await subscribeMonthly(page, shop);
    await payMonthly(page, email);
    await expectAbsent(
      flash(page).filter({ hasText: 'Welcome! Your account is ready' }),
      'stale "Welcome! Your account is ready" flash on the subscriptions page after paying',
    );
  },
);
