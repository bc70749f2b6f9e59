// Catalogue journeys: browse the home page, open a product, see that a sold-out product cannot be
// added to the cart. Run once at desktop size and once on a phone-sized viewport.
import assert from 'node:assert/strict';
import { journey, visit, checkPage, expectVisible, expectAbsent, expectText, expectPath } from './harness.mjs';

const PRICE = /\$\d+(,\d{3})*\.\d{2}/;

/** The product card on the home page that links to `name`. */
function card(page, name) {
  return page
    .getByRole('main')
    .getByRole('listitem')
    .filter({ has: page.getByRole('link', { name, exact: true }) });
}

async function browseCatalogue(page) {
  await visit(page, '/', 'home');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Shop' }), 'the "Shop" heading');

  // Every product is listed with a link and a price.
  const cards = page.getByRole('main').getByRole('list').filter({ has: page.locator('.product-card') }).getByRole('listitem');
  const n = await cards.count();
  assert.ok(n >= 4, `expected the demo catalogue on the home page, found ${n} product card(s)`);
  for (let i = 0; i < n; i++) {
    const c = cards.nth(i);
    await expectVisible(c.getByRole('link'), `a link in product card ${i + 1}`);
    await expectText(c, PRICE, `product card ${i + 1}`);
  }
  await expectText(card(page, 'Canvas tote bag'), '$18.00', 'the tote bag card');
  await expectText(card(page, 'Brass pocket pen'), 'Sold out', 'the sold-out pen card');
  await expectVisible(card(page, 'Brass pocket pen').getByText('Sold out', { exact: true }), 'a "Sold out" badge');
  await expectVisible(card(page, 'Limited print: Harbour at dawn').getByText('Last one', { exact: true }), 'a "Last one" badge');
  await expectAbsent(card(page, 'Canvas tote bag').getByText('Sold out'), '"Sold out" on the tote bag');

  // Open a product from the list.
  await page.getByRole('link', { name: 'Canvas tote bag', exact: true }).click();
  await page.waitForURL('**/products/canvas-tote');
  await checkPage(page, 'canvas-tote');
  expectPath(page, '/products/canvas-tote');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Canvas tote bag' }), 'the product heading');
  await expectVisible(page.getByRole('main').getByText('$18.00', { exact: true }), 'the price $18.00');
  const quantity = await expectVisible(page.getByLabel('Quantity'), 'the Quantity field');
  assert.equal(await quantity.inputValue(), '1', 'quantity starts at 1');
  await expectVisible(page.getByRole('button', { name: 'Add to cart' }), 'the "Add to cart" button');

  // Back to the list, then the sold-out product: no way to add it to the cart.
  await page.goBack();
  await page.getByRole('link', { name: 'Brass pocket pen', exact: true }).click();
  await page.waitForURL('**/products/brass-pen');
  await checkPage(page, 'brass-pen');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Brass pocket pen' }), 'the product heading');
  await expectVisible(page.getByRole('main').getByText('$54.00', { exact: true }), 'the price $54.00');
  await expectVisible(page.getByRole('main').getByText('Sold out', { exact: true }), 'the "Sold out" badge');
  await expectAbsent(page.getByRole('button', { name: 'Add to cart' }), '"Add to cart" button on a sold-out product');
  await expectAbsent(page.getByLabel('Quantity'), 'Quantity field on a sold-out product');
}

journey('catalogue: browse and open a product', async ({ page }) => {
  await browseCatalogue(page);
});

journey(
  'catalogue on a phone',
  { contextOptions: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } },
  async ({ page }) => {
    await browseCatalogue(page);
    // Nothing is wider than the phone's screen: no sideways scrolling.
    for (const path of ['/', '/products/canvas-tote']) {
      await page.goto(path);
      const { scrollWidth, clientWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
      }));
      assert.ok(scrollWidth <= clientWidth, `${path} scrolls sideways on a phone: ${scrollWidth}px wide in a ${clientWidth}px viewport`);
    }
  },
);
