//! P2: subscriptions, invoices, the Billing Portal, the test clock and fault controls.
