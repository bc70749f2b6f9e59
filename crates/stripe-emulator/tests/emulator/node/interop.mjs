// Drives the Stripe emulator with the official Stripe Node SDK (pinned in package.json).
// Environment: EMULATOR_ORIGIN (http://127.0.0.1:PORT), STRIPE_SECRET_KEY (sk_test_…).
// Exits non-zero on the first failed check; prints "interop ok" at the end.
import assert from 'node:assert/strict';
import http from 'node:http';
import Stripe from 'stripe';

const origin = new URL(process.env.EMULATOR_ORIGIN);
const key = process.env.STRIPE_SECRET_KEY;
const options = {
  host: origin.hostname,
  port: Number(origin.port),
  protocol: 'http',
  maxNetworkRetries: 0,
};
const stripe = new Stripe(key, options);

// A webhook receiver that keeps raw bodies and signature headers.
const received = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    received.push({ body, signature: req.headers['stripe-signature'] });
    res.writeHead(200).end();
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${server.address().port}/hook`;

async function waitFor(type) {
  for (let i = 0; i < 100; i++) {
    const hit = received.find((r) => JSON.parse(r.body).type === type);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${type} webhook`);
}

try {
  const endpoint = await stripe.webhookEndpoints.create({ url: hookUrl, enabled_events: ['*'] });
  assert.match(endpoint.id, /^we_/);
  assert.match(endpoint.secret, /^whsec_/);
  const secret = endpoint.secret;

  const product = await stripe.products.create({ name: 'Node mug', metadata: { sku: 'N1' } });
  assert.equal(product.metadata.sku, 'N1');
  const price = await stripe.prices.create({ currency: 'usd', unit_amount: 1200, product: product.id });
  assert.equal(price.type, 'one_time');

  const params = {
    mode: 'payment',
    line_items: [{ price: price.id, quantity: 2 }],
    success_url: 'http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://shop.test/cancel',
    client_reference_id: 'NODE-1',
    metadata: { order: 'NODE-1' },
    expires_at: Math.floor(Date.now() / 1000) + 3600,
  };
  const session = await stripe.checkout.sessions.create(params, { idempotencyKey: 'node-key-1' });
  const replay = await stripe.checkout.sessions.create(params, { idempotencyKey: 'node-key-1' });
  assert.equal(replay.id, session.id);
  await assert.rejects(
    stripe.checkout.sessions.create({ ...params, client_reference_id: 'OTHER' }, { idempotencyKey: 'node-key-1' }),
    (e) => e.type === 'StripeIdempotencyError',
  );
  await assert.rejects(
    stripe.checkout.sessions.create({ ...params, expires_at: Math.floor(Date.now() / 1000) + 60 }),
    (e) => e.type === 'StripeInvalidRequestError' && e.param === 'expires_at' && e.statusCode === 400,
  );

  const full = await stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] });
  assert.equal(full.amount_total, 2400);
  assert.equal(full.line_items.data.length, 1);
  assert.equal(full.line_items.data[0].quantity, 2);

  // Pay on the hosted page.
  const pay = await fetch(session.url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      email: 'node@example.com',
      method: 'card',
      card_number: '4242424242424242',
      card_expiry: '12 / 34',
      card_cvc: '123',
    }),
  });
  assert.equal(pay.status, 303);
  assert.equal(pay.headers.get('location'), `http://shop.test/ok?session_id=${session.id}`);

  // The emulator's signature verifies with the SDK.
  const hook = await waitFor('checkout.session.completed');
  const event = stripe.webhooks.constructEvent(hook.body, hook.signature, secret);
  assert.equal(event.data.object.id, session.id);
  assert.equal(event.data.object.payment_status, 'paid');

  const paid = await stripe.checkout.sessions.retrieve(session.id);
  await assert.rejects(
    stripe.refunds.create({ payment_intent: paid.payment_intent, amount: 99999 }),
    (e) => e.type === 'StripeInvalidRequestError' && e.param === 'amount',
  );
  const refund = await stripe.refunds.create({ payment_intent: paid.payment_intent, amount: 500, reason: 'requested_by_customer' });
  assert.equal(refund.status, 'succeeded');
  await assert.rejects(
    stripe.paymentIntents.retrieve('pi_missing'),
    (e) => e.type === 'StripeInvalidRequestError' && e.statusCode === 404 && e.code === 'resource_missing',
  );

  const completed = await stripe.events.list({ type: 'checkout.session.completed' });
  assert.equal(completed.data.length, 1);
  let count = 0;
  for await (const e of stripe.events.list({ limit: 2 })) {
    assert.match(e.id, /^evt_/);
    count++;
  }
  assert.ok(count >= 8, `auto-pagination saw ${count} events`);

  // Test headers: a good one verifies; tampering, a wrong secret or an old timestamp fail.
  const payload = JSON.stringify(completed.data[0]);
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret });
  assert.equal(stripe.webhooks.constructEvent(payload, header, secret).id, completed.data[0].id);
  assert.throws(() => stripe.webhooks.constructEvent(payload.replace('NODE-1', 'NODE-2'), header, secret));
  assert.throws(() => stripe.webhooks.constructEvent(payload, header, 'whsec_wrong'));
  const old = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(Date.now() / 1000) - 600 });
  assert.throws(() => stripe.webhooks.constructEvent(payload, old, secret));

  const bad = new Stripe('sk_live_nope', options);
  await assert.rejects(bad.products.list(), (e) => e.type === 'StripeAuthenticationError');

  console.log('interop ok');
} finally {
  server.close();
}
