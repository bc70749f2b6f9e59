DROP TABLE prices;
DROP TABLE products;
