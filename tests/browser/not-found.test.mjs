// An unknown product answers with the shop's 404 page, which leads back to the shop.
import { journey, visit, checkPage, expectVisible, expectText, expectPath } from './harness.mjs';

journey('unknown product shows the 404 page', async ({ page }) => {
  await visit(page, '/products/nope', 'not-found', { status: 404 });
  await expectVisible(page.getByRole('heading', { level: 1 }), 'a page heading');
  await expectText(page.getByRole('main'), 'Error 404', 'the 404 page');
  const back = await expectVisible(page.getByRole('link', { name: 'Back to the shop' }), 'a "Back to the shop" link');
  await back.click();
  await page.waitForURL((url) => url.pathname === '/');
  await checkPage(page, 'home');
  expectPath(page, '/');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Shop' }), 'the "Shop" heading');
});
