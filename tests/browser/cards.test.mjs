// Saved cards: a signed-in customer ticks "Save my card" on the emulator's payment page, comes
// back and pays the next order with the saved card without typing it, then removes the card
// under Account → Payment methods.
import assert from 'node:assert/strict';
import {
  journey, visit, checkPage, expectVisible, expectAbsent, expectText, fillShippingAddress,
} from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const CARD_OK = '4242424242424242';
const TOTE_TOTAL = '$23.00'; // one tote ($18.00) and standard shipping ($5.00)

/** The flash message the shop shows after a redirect (role="status" in the main content). */
function flash(page) {
  return page.getByRole('main').getByRole('status');
}

async function register(page, email) {
  await visit(page, '/account/register', 'register');
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Password (at least 12 characters)', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Password again', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account');
}

/** Product → Add to cart → Check out: lands on the emulator's payment page. */
async function toPayment(page, name) {
  await visit(page, '/products/canvas-tote', 'product');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  await checkPage(page, name);
  await expectText(page.locator('#total'), TOTE_TOTAL, 'the total due');
  await fillShippingAddress(page);
}

async function pay(page, name) {
  await page.getByRole('button', { name: `Pay ${TOTE_TOTAL}`, exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/checkout/success');
  await checkPage(page, name);
  await expectText(page.locator('#order-status'), /^Paid$/, 'the order status');
}

journey('cards: save a card, pay with it next time, remove it', async ({ page }) => {
  await register(page, 'returning@example.com');

  // First order: type the card and tick "Save my card".
  await toPayment(page, 'payment-first');
  const save = page.getByLabel('Save my card for future purchases', { exact: true });
  await expectVisible(save, 'the "Save my card" box');
  assert.equal(await save.isChecked(), false, 'saving is asked, not assumed');
  await expectAbsent(page.getByRole('group', { name: 'Saved cards' }), 'saved cards before any was saved');
  await page.getByLabel('Card number').fill(CARD_OK);
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await save.check();
  await pay(page, 'success-first');

  // Second order: the saved card is offered and chosen; nothing is typed.
  await toPayment(page, 'payment-saved-card');
  const saved = page.getByRole('group', { name: 'Saved cards' });
  await expectVisible(saved, 'the "Saved cards" choices');
  const visa = saved.getByRole('radio', { name: /Visa \S+ 4242 \(expires 12\/34\)/ });
  assert.equal(await visa.isChecked(), true, 'the saved card is chosen');
  assert.equal(await page.getByLabel('Card number').inputValue(), '', 'no card number typed');
  await pay(page, 'success-saved-card');

  // Account → Payment methods lists it; remove it.
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account');
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Payment methods', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/payment-methods');
  await checkPage(page, 'payment-methods');
  await expectText(page.locator('#cards'), /Visa ending in 4242 · expires 12\/34/, 'the saved card');
  await page.getByRole('button', { name: 'Remove Visa ending in 4242', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/account/payment-methods');
  await checkPage(page, 'payment-methods-removed');
  await expectText(flash(page), /^Visa ending in 4242 removed\.$/, 'the "removed" flash');
  await expectVisible(page.locator('#no-cards'), '"no saved cards"');

  // The next payment page offers nothing saved.
  await toPayment(page, 'payment-after-removal');
  await expectAbsent(page.getByRole('group', { name: 'Saved cards' }), 'saved cards after removal');
});
