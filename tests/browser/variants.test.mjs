// Variants (issue #16): an admin creates a product, names its option, gives it a second
// variant with its own SKU, price and stock, and a picture; a shopper finds it by search and by
// category, picks the second variant from the radio group (no JavaScript needed), pays, and the
// order names the variant; only that variant's stock went down.
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectText, fillShippingAddress,
} from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'storefront-demo-admin';
const CAP = 'Trail cap';
// A 64×48 PNG, half blue.
const CAP_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAASUlEQVR42u3PMQ0AMAgAMOSgCXUTxo0OLOzha1IDjax3aqZPhYCAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIDArwVx+L1LFBUsugAAAABJRU5ErkJggg==';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exactly = (s) => new RegExp(`^${escape(s)}$`);

journey('variants: an admin makes a cap in two sizes; a shopper buys the large one', async ({ page, newPage }) => {
  const admin = await newPage();
  await visit(admin, '/account/login', 'admin-login');
  await admin.getByLabel('E-mail', { exact: true }).fill(ADMIN_EMAIL);
  await admin.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/account');

  // The product, with its first variant's price and stock.
  await visit(admin, '/admin/products/new', 'admin-product-new');
  await admin.getByLabel('Name', { exact: true }).fill(CAP);
  await admin.getByRole('textbox', { name: /^Slug/ }).fill('trail-cap');
  await admin.getByRole('textbox', { name: /^Description/ }).fill('Waxed cotton with a short brim.');
  await admin.getByLabel('Price in USD', { exact: true }).fill('25.00');
  await admin.getByRole('textbox', { name: /^Stock/ }).fill('4');
  await admin.getByRole('combobox', { name: /^Category/ }).fill('Hats');
  await admin.getByRole('checkbox', { name: /^Active/ }).check();
  await admin.getByRole('button', { name: 'Create product', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/trail-cap');

  // A picture, then the option: the first variant becomes "Medium".
  await admin.getByLabel(/^Picture \(/).setInputFiles({ name: 'cap.png', mimeType: 'image/png', buffer: Buffer.from(CAP_PNG, 'base64') });
  await admin.getByLabel(/alt text/).fill('Olive waxed cotton cap');
  await admin.getByRole('button', { name: 'Add picture', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/trail-cap');
  // A second variant before the option is named is refused, with the reason.
  await admin.getByLabel('Price in USD', { exact: true }).last().fill('27.00');
  allowStatus(admin, '/admin/products/trail-cap/variants/new', 422);
  await admin.getByRole('button', { name: 'Add variant', exact: true }).click();
  await expectText(admin.locator('#new-option1-error'), /Name the product's option first/, 'the option must be named first');
  await checkPage(admin, 'admin-variant-error');
  await admin.getByLabel(/^First option \(/).fill('Size');
  await admin.getByLabel('Variant 1: first option', { exact: true }).fill('Medium');
  await admin.getByLabel('Variant 1: SKU', { exact: true }).fill('CAP-M');
  await admin.getByRole('button', { name: 'Save variants', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/trail-cap');
  await expectText(admin.locator('.flash'), exactly(`Variants of ${CAP} saved.`), 'the option saved');

  await admin.locator('#new-variant-form').getByLabel('Size', { exact: true }).fill('Large');
  await admin.locator('#new-variant-form').getByLabel(/^SKU/).fill('CAP-L');
  await admin.locator('#new-variant-form').getByLabel('Price in USD', { exact: true }).fill('27.00');
  await admin.locator('#new-variant-form').getByLabel(/^Stock/).fill('2');
  await admin.getByRole('button', { name: 'Add variant', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/trail-cap');
  await expectText(admin.locator('.flash'), exactly(`Added the Large variant of ${CAP}.`), 'the second variant');
  await admin.getByLabel('Variant 2: picture', { exact: true }).selectOption({ label: 'Olive waxed cotton cap' });
  await admin.getByRole('button', { name: 'Save variants', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/trail-cap');
  await checkPage(admin, 'admin-product-variants');

  // The shopper finds it by search and by category.
  await visit(page, '/', 'shop-before-variants');
  await page.getByRole('searchbox', { name: 'Search products' }).fill('waxed');
  await page.getByRole('banner').getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/search');
  await expectText(page.locator('.product-card .product-name'), exactly(CAP), 'the search result');
  await page.getByRole('navigation', { name: 'Categories' }).getByRole('link', { name: 'Hats', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/categories/hats');
  await page.getByRole('link', { name: new RegExp(CAP) }).first().click();
  await page.waitForURL((u) => u.pathname === '/products/trail-cap');
  await checkPage(page, 'product-variants');

  // Picks Large (a radio button inside the form) and buys it.
  const sizes = page.getByRole('group', { name: 'Size' });
  await expectVisible(sizes.getByRole('radio', { name: /Medium/ }), 'the Medium choice');
  await sizes.getByRole('radio', { name: /Large/ }).check();
  await page.getByRole('button', { name: 'Add to cart', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/cart');
  await expectVisible(page.getByRole('link', { name: `${CAP} — Large` }), 'the variant in the cart');
  await checkPage(page, 'cart-variant');
  await page.getByLabel('E-mail for your receipt').fill('shopper@example.com');
  await page.getByRole('button', { name: 'Check out', exact: true }).click();
  await page.waitForURL((u) => /^\/c\/pay\/cs_test_[^/]+$/.test(u.pathname));
  await fillShippingAddress(page);
  await page.getByLabel('Card number').fill('4242424242424242');
  await page.getByLabel('Expiry (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: /^Pay / }).click();
  await page.waitForURL((u) => u.pathname === '/checkout/success');
  await expectText(page.locator('#order-status'), /^Paid$/, 'the order status');
  await expectVisible(page.getByRole('main').getByRole('row').filter({ hasText: `${CAP} — Large` }), 'the order names the variant');
  await checkPage(page, 'success-variant');

  // Only Large's shelf went down.
  await visit(admin, '/admin/products/trail-cap', 'admin-product-after-sale');
  const stock = (row) => admin.locator('#variants tbody tr').nth(row).locator('td').nth(5);
  await expectText(stock(0), exactly('4'), 'Medium untouched');
  await expectText(stock(1), exactly('1'), 'Large one fewer');
});
