// Catalogue management (issue #16): a shopper asks to hear when the sold-out pen is back; the
// admin finds it under Admin → Products, restocks it with a reason (refused first below what
// checkouts hold… here: a missing reason), renames it, and the shopper's e-mail is in the
// mailbox; the shopper can then buy it.
import {
  journey, visit, checkPage, allowStatus, expectVisible, expectAbsent, expectText,
} from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'storefront-demo-admin';
const PEN = 'Brass pocket pen';
// A 64×48 PNG, half blue: what an admin uploads.
const MUG_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAASUlEQVR42u3PMQ0AMAgAMOSgCXUTxo0OLOzha1IDjax3aqZPhYCAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIDArwVx+L1LFBUsugAAAABJRU5ErkJggg==';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exactly = (s) => new RegExp(`^${escape(s)}$`);

async function signInAdmin(admin) {
  await visit(admin, '/account/login', 'admin-login');
  await admin.getByLabel('E-mail', { exact: true }).fill(ADMIN_EMAIL);
  await admin.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/account');
}

journey('products: a sold-out pen, a shopper waiting, the admin restocks and renames it', async ({ page, newPage }) => {
  // The shopper leaves an address on the sold-out pen (a typo first).
  await visit(page, '/products/brass-pen', 'product-sold-out');
  await expectText(page.locator('.badge-sold-out'), exactly('Sold out'), 'the sold-out badge');
  const email = page.getByLabel("E-mail me once when it's back", { exact: true });
  await email.fill('ada@');
  allowStatus(page, '/products/brass-pen/back-in-stock', 422);
  await page.getByRole('button', { name: 'Notify me', exact: true }).click();
  await expectText(page.locator('#alert-email-error'), exactly('Enter an e-mail address like name@example.com.'), 'the e-mail error');
  await checkPage(page, 'product-back-in-stock-error');
  await email.fill('ada@example.com');
  await page.getByRole('button', { name: 'Notify me', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/products/brass-pen');
  await expectText(page.locator('.flash'), exactly(`We'll e-mail ada@example.com once when ${PEN} is back in stock.`), 'the confirmation');

  // The admin finds it, sees one shopper waiting, and restocks it (a reason is required).
  const admin = await newPage();
  await signInAdmin(admin);
  await visit(admin, '/admin/products', 'admin-products');
  await admin.getByLabel('Name or slug', { exact: true }).fill('pen');
  await admin.getByRole('main').getByRole('button', { name: 'Search', exact: true }).click();
  await admin.getByRole('link', { name: PEN, exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/brass-pen');
  await checkPage(admin, 'admin-product');
  await expectText(admin.locator('#waiting'), exactly('1'), 'the waiting shopper');
  await admin.getByRole('textbox', { name: /^Units/ }).fill('5');
  allowStatus(admin, '/admin/products/brass-pen/stock', 422);
  await admin.getByRole('button', { name: 'Save stock', exact: true }).click();
  await expectVisible(admin.locator('#reason-error'), 'the reason is required');
  await checkPage(admin, 'admin-product-stock-error');
  await admin.getByLabel('Reason', { exact: true }).fill('Delivery from the workshop');
  await admin.getByRole('button', { name: 'Save stock', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/brass-pen');
  await expectText(admin.locator('.flash'), exactly(`Stock of ${PEN}: 0 → 5. 1 waiting shopper(s) will get a back-in-stock e-mail.`), 'the restock');
  await expectText(admin.locator('#available'), exactly('5'), 'what shoppers can buy');

  // Renamed; the history has both changes.
  await admin.getByLabel('Name', { exact: true }).fill('Brass pocket pen, engraved');
  await admin.getByRole('button', { name: 'Save product', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/brass-pen');
  await expectText(admin.locator('.flash'), exactly('Saved Brass pocket pen, engraved.'), 'the edit');
  await expectText(admin.locator('#trail tbody tr').first(), /product edited/, 'the edit in the history');
  await checkPage(admin, 'admin-product-saved');

  // The mail went out once; the shopper can buy the pen now.
  await visit(admin, '/admin/mail', 'admin-mail');
  await expectVisible(admin.getByRole('heading', { name: `Back in stock: ${PEN}` }), 'the back-in-stock e-mail');
  await visit(page, '/products/brass-pen', 'product-back');
  await expectAbsent(page.locator('.badge-sold-out'), 'the sold-out badge');
  await expectText(page.locator('h1'), exactly('Brass pocket pen, engraved'), 'the new name');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL((u) => u.pathname === '/cart');

  // A new product from the browser: a price of 0 is refused unless meant, then it is on sale.
  await visit(admin, '/admin/products', 'admin-products-again');
  await admin.getByRole('link', { name: 'New product', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/new');
  await admin.getByLabel('Name', { exact: true }).fill('Camp mug');
  await admin.getByRole('textbox', { name: /^Slug/ }).fill('camp-mug');
  await admin.getByRole('textbox', { name: /^Description/ }).fill('Speckled blue enamel.\n\nHolds 350 ml.');
  await admin.getByLabel('Price in USD', { exact: true }).fill('0');
  await admin.getByRole('textbox', { name: /^Stock/ }).fill('3');
  await admin.getByRole('combobox', { name: /^Category/ }).fill('Camping');
  await admin.getByRole('checkbox', { name: /^Active/ }).check();
  allowStatus(admin, '/admin/products', 422);
  await admin.getByRole('button', { name: 'Create product', exact: true }).click();
  await expectText(admin.locator('#price-error'), /tick Free/, 'a price of 0 needs Free');
  await checkPage(admin, 'admin-product-new-error');
  await admin.getByLabel('Price in USD', { exact: true }).fill('14.50');
  await admin.getByRole('button', { name: 'Create product', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/camp-mug');
  await expectText(admin.locator('.flash'), exactly('Created Camp mug. It is on sale.'), 'the new product');
  // A picture for it: alt text is required; then the shop shows the picture.
  await admin.getByLabel(/^Picture/).setInputFiles({ name: 'mug.png', mimeType: 'image/png', buffer: Buffer.from(MUG_PNG, 'base64') });
  allowStatus(admin, '/admin/products/camp-mug/images', 422);
  await admin.getByRole('button', { name: 'Add picture', exact: true }).click();
  await expectVisible(admin.locator('#alt-error'), 'alt text is required');
  await checkPage(admin, 'admin-product-picture-error');
  await admin.getByLabel(/^Picture/).setInputFiles({ name: 'mug.png', mimeType: 'image/png', buffer: Buffer.from(MUG_PNG, 'base64') });
  await admin.getByLabel(/alt text/).fill('Blue and white enamel camp mug');
  await admin.getByRole('button', { name: 'Add picture', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/camp-mug');
  await expectText(admin.locator('.flash'), exactly('Added a picture of Camp mug.'), 'the picture');
  await checkPage(admin, 'admin-product-picture');
  await visit(page, '/products/camp-mug', 'product-new');
  await expectVisible(page.getByRole('img', { name: 'Blue and white enamel camp mug' }), 'the uploaded picture');
  await expectText(page.locator('.price-large'), exactly('$14.50'), 'its price');
  await expectText(page.locator('.stock-note'), exactly('Only 3 left'), 'its stock');

  // Shoppers find it with the search box in the header, and on its category's page.
  await visit(page, '/', 'shop-with-categories');
  await page.getByRole('searchbox', { name: 'Search products' }).fill('speckled');
  await page.getByRole('banner').getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/search' && u.searchParams.get('q') === 'speckled');
  await checkPage(page, 'search-results');
  await expectText(page.locator('.product-card .product-name'), exactly('Camp mug'), 'the search result');
  await page.getByRole('navigation', { name: 'Categories' }).getByRole('link', { name: 'Camping', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/categories/camping');
  await checkPage(page, 'category');
  await expectText(page.locator('.product-card .product-name'), exactly('Camp mug'), 'the category page');

  // Its address changes; the old one leads to the new.
  await visit(admin, '/admin/products/camp-mug', 'admin-product-camp-mug');
  await admin.getByRole('textbox', { name: /^Address/ }).fill('speckled-camp-mug');
  await admin.getByRole('button', { name: 'Save product', exact: true }).click();
  await admin.waitForURL((u) => u.pathname === '/admin/products/speckled-camp-mug');
  await checkPage(admin, 'admin-product-renamed');
  await page.goto(new URL('/products/camp-mug', page.url()).href);
  await page.waitForURL((u) => u.pathname === '/products/speckled-camp-mug');
});
