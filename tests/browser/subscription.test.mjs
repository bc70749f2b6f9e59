// A subscription product offers its plans as buttons, not an "Add to cart" form.
import { journey, visit, expectVisible, expectAbsent, expectText } from './harness.mjs';

journey('subscription product offers monthly and yearly plans', async ({ page }) => {
  await visit(page, '/', 'home');
  await expectText(
    page.getByRole('main').getByRole('listitem').filter({ hasText: 'Coffee club subscription' }),
    /from \$15\.00 \/ month/,
    'the coffee club card',
  );
  await visit(page, '/products/coffee-club', 'coffee-club');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Coffee club subscription' }), 'the product heading');
  await expectVisible(page.getByRole('heading', { level: 2, name: 'Subscribe' }), 'the "Subscribe" heading');
  await expectText(page.getByRole('button', { name: /^Subscribe monthly/ }), '$15.00 / month', 'the "Subscribe monthly" button');
  await expectText(page.getByRole('button', { name: /^Subscribe yearly/ }), '$150.00 / year', 'the "Subscribe yearly" button');
  await expectAbsent(page.getByRole('button', { name: 'Add to cart' }), '"Add to cart" on a subscription-only product');
});
