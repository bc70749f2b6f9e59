ALTER TABLE prices DROP COLUMN stripe_tax_behavior;
ALTER TABLE products DROP COLUMN tax_code;
