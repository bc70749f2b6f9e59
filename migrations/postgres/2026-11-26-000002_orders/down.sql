DROP TABLE stripe_events;
DROP TABLE stock_reservations;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE cart_items;
DROP TABLE carts;
