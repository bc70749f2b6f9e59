DROP TABLE shipping_prices;
ALTER TABLE prices DROP COLUMN shipping_amount;
