-- Stripe Tax: each product's tax code (NULL: the general tangible-goods code), and the tax
-- behavior each synced Stripe Price was made with. A Price's tax_behavior cannot change at
-- Stripe, so a change of STRIPE_TAX_BEHAVIOR makes new Prices rather than editing old ones.
ALTER TABLE products ADD COLUMN tax_code TEXT;
ALTER TABLE prices ADD COLUMN stripe_tax_behavior TEXT;
