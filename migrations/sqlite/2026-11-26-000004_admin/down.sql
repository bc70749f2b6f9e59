DROP INDEX orders_payment_intent_id;
DROP TABLE audit_log;
DROP TABLE refund_tokens;
DROP TABLE refund_restocks;
DROP TABLE refunds;
