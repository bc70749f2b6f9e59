//! Diesel's view of the tables, shared by both backends.
//! `tests/api/schema_matches.rs` proves it matches `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    products (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        description -> Text,
        image_url -> Nullable<Text>,
        position -> BigInt,
        stripe_product_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        tax_code -> Nullable<Text>,
        kind -> Text,
        delivery -> Nullable<Text>,
        max_downloads -> BigInt,
        category_id -> Nullable<BigInt>,
        status -> Text,
        option1_name -> Nullable<Text>,
        option2_name -> Nullable<Text>,
    }
}

diesel::table! {
    product_variants (id) {
        id -> BigInt,
        product_id -> BigInt,
        position -> BigInt,
        sku -> Nullable<Text>,
        option1 -> Text,
        option2 -> Text,
        stock -> Nullable<BigInt>,
        image_id -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    categories (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    product_redirects (slug) {
        slug -> Text,
        product_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    product_images (id) {
        id -> BigInt,
        product_id -> BigInt,
        position -> BigInt,
        alt -> Text,
        name -> Text,
        width -> BigInt,
        height -> BigInt,
        thumb -> Binary,
        large -> Binary,
        created_at -> BigInt,
    }
}

diesel::joinable!(products -> categories (category_id));
diesel::joinable!(product_images -> products (product_id));
diesel::joinable!(product_variants -> products (product_id));
diesel::joinable!(product_redirects -> products (product_id));

diesel::table! {
    product_files (product_id) {
        product_id -> BigInt,
        file_name -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        bytes -> Binary,
        updated_at -> BigInt,
    }
}

diesel::table! {
    licence_keys (id) {
        id -> BigInt,
        product_id -> BigInt,
        licence_key -> Text,
        order_item_id -> Nullable<BigInt>,
        assigned_at -> Nullable<BigInt>,
        created_at -> BigInt,
        variant_id -> BigInt,
    }
}

diesel::table! {
    download_counts (order_item_id) {
        order_item_id -> BigInt,
        downloads -> BigInt,
    }
}

diesel::table! {
    prices (id) {
        id -> BigInt,
        product_id -> BigInt,
        lookup_key -> Text,
        currency -> Text,
        unit_amount -> BigInt,
        recurring_interval -> Nullable<Text>,
        active -> Bool,
        stripe_price_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        stripe_tax_behavior -> Nullable<Text>,
        shipping_amount -> Nullable<BigInt>,
        variant_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(prices -> products (product_id));

diesel::table! {
    shipping_prices (id) {
        id -> BigInt,
        price_id -> BigInt,
        terms -> Text,
        amount -> BigInt,
        stripe_price_id -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(shipping_prices -> prices (price_id));

diesel::table! {
    stock_alerts (id) {
        id -> BigInt,
        product_id -> BigInt,
        email -> Text,
        created_at -> BigInt,
        notified_at -> Nullable<BigInt>,
        variant_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(stock_alerts -> products (product_id));

diesel::table! {
    carts (id) {
        id -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        user_id -> Nullable<BigInt>,
        recovery_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    cart_items (id) {
        id -> BigInt,
        cart_id -> BigInt,
        price_id -> BigInt,
        quantity -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    orders (id) {
        id -> BigInt,
        number -> Text,
        kind -> Text,
        status -> Text,
        currency -> Text,
        amount_total -> BigInt,
        amount_refunded -> BigInt,
        email -> Nullable<Text>,
        cart_id -> Nullable<BigInt>,
        cart_fingerprint -> Text,
        client_ip -> Nullable<Text>,
        idempotency_key -> Text,
        checkout_session_id -> Nullable<Text>,
        checkout_url -> Nullable<Text>,
        checkout_expires_at -> BigInt,
        payment_intent_id -> Nullable<Text>,
        flagged -> Nullable<Text>,
        disputed -> Bool,
        stock_committed -> Bool,
        paid_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        user_id -> Nullable<BigInt>,
        invoice_id -> Nullable<Text>,
        subscription_id -> Nullable<BigInt>,
        sweep_next_at -> BigInt,
        sweep_attempts -> BigInt,
        stripe_account -> Nullable<Text>,
        amount_subtotal -> BigInt,
        amount_discount -> BigInt,
        amount_shipping -> BigInt,
        amount_tax_exclusive -> BigInt,
        amount_tax_inclusive -> BigInt,
        discount_label -> Nullable<Text>,
        tax_behavior -> Nullable<Text>,
        fulfilment_status -> Text,
        payment_method_type -> Nullable<Text>,
        recovery_email -> Nullable<Text>,
        recovered_from -> Nullable<BigInt>,
    }
}

diesel::table! {
    order_items (id) {
        id -> BigInt,
        order_id -> BigInt,
        product_id -> BigInt,
        price_id -> BigInt,
        name -> Text,
        unit_amount -> BigInt,
        quantity -> BigInt,
        amount_discount -> BigInt,
        amount_tax -> BigInt,
        amount_paid -> BigInt,
        stripe_product_id -> Nullable<Text>,
        physical -> Bool,
        variant_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    stock_reservations (id) {
        id -> BigInt,
        order_id -> BigInt,
        product_id -> BigInt,
        quantity -> BigInt,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        variant_id -> BigInt,
    }
}

diesel::joinable!(stock_reservations -> product_variants (variant_id));
diesel::joinable!(licence_keys -> product_variants (variant_id));

diesel::table! {
    stripe_events (id) {
        id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        created -> BigInt,
        processed_at -> BigInt,
        order_id -> Nullable<BigInt>,
        outcome -> Text,
        object_id -> Nullable<Text>,
        deliveries -> BigInt,
    }
}

diesel::table! {
    balance_transactions (id) {
        id -> Text,
        order_id -> BigInt,
        source -> Nullable<Text>,
        category -> Text,
        amount -> BigInt,
        fee -> BigInt,
        net -> BigInt,
        currency -> Text,
        created -> BigInt,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    balance_fetches (source) {
        source -> Text,
        order_id -> BigInt,
        attempts -> BigInt,
        next_at -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    checkout_recoveries (id) {
        id -> BigInt,
        order_id -> BigInt,
        email -> Text,
        user_id -> Nullable<BigInt>,
        cart_id -> Nullable<BigInt>,
        cart_fingerprint -> Text,
        status -> Text,
        expired_at -> BigInt,
        sent_at -> Nullable<BigInt>,
        cancelled_reason -> Nullable<Text>,
        token_hash -> Nullable<Text>,
        restored_at -> Nullable<BigInt>,
        recovered_order_id -> Nullable<BigInt>,
        recovered_amount -> Nullable<BigInt>,
        recovered_currency -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    recovery_unsubscribes (email) {
        email -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    disputes (id) {
        id -> Text,
        order_id -> Nullable<BigInt>,
        charge_id -> Text,
        amount -> BigInt,
        currency -> Text,
        reason -> Text,
        status -> Text,
        evidence_due_by -> Nullable<BigInt>,
        withdrawn -> BigInt,
        reinstated -> BigInt,
        fees -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    stripe_event_failures (event_id) {
        event_id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        created -> BigInt,
        object_id -> Nullable<Text>,
        error -> Text,
        attempts -> BigInt,
        first_failed_at -> BigInt,
        last_failed_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        email_normalized -> Text,
        password_hash -> Text,
        role -> Text,
        session_epoch -> BigInt,
        stripe_customer_id -> Nullable<Text>,
        email_verified_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        recovery_opt_in -> Bool,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> BigInt,
        client_ip -> Text,
        email_normalized -> Text,
        succeeded -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> BigInt,
        stripe_subscription_id -> Text,
        user_id -> Nullable<BigInt>,
        stripe_customer_id -> Text,
        price_id -> Nullable<BigInt>,
        stripe_price_id -> Text,
        status -> Text,
        current_period_end -> Nullable<BigInt>,
        cancel_at_period_end -> Bool,
        ended_at -> Nullable<BigInt>,
        latest_invoice_status -> Nullable<Text>,
        last_event_created -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        flagged -> Nullable<Text>,
    }
}

diesel::table! {
    subscription_checkouts (user_id, product_id) {
        user_id -> BigInt,
        product_id -> BigInt,
        attempt -> BigInt,
        price_id -> Nullable<BigInt>,
        expires_at -> BigInt,
        session_id -> Nullable<Text>,
        url -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        dedupe_key -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        message_id -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<BigInt>,
        order_id -> Nullable<BigInt>,
        created_at -> BigInt,
        user_id -> Nullable<BigInt>,
        link_purpose -> Nullable<Text>,
    }
}

diesel::table! {
    email_tokens (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        purpose -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    payment_failures (event_id) {
        event_id -> Text,
        payment_intent_id -> Text,
        order_id -> Nullable<BigInt>,
        decline_code -> Text,
        amount -> BigInt,
        currency -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    refunds (id) {
        id -> BigInt,
        order_id -> BigInt,
        stripe_refund_id -> Nullable<Text>,
        amount -> BigInt,
        currency -> Text,
        reason -> Nullable<Text>,
        note -> Nullable<Text>,
        status -> Text,
        failure_message -> Nullable<Text>,
        admin_id -> Nullable<BigInt>,
        idempotency_key -> Nullable<Text>,
        restocked -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    order_shipping (order_id) {
        order_id -> BigInt,
        name -> Text,
        line1 -> Nullable<Text>,
        line2 -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        country -> Text,
        phone -> Nullable<Text>,
        rate_id -> Nullable<Text>,
        rate_name -> Nullable<Text>,
        amount -> BigInt,
        amount_tax -> BigInt,
    }
}

diesel::table! {
    shipping_rates (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        amount -> BigInt,
        min_days -> Nullable<BigInt>,
        max_days -> Nullable<BigInt>,
        free_over -> Nullable<BigInt>,
        active -> Bool,
        position -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    order_shipping_rates (id) {
        id -> BigInt,
        order_id -> BigInt,
        position -> BigInt,
        rate_key -> Text,
        name -> Text,
        amount -> BigInt,
        min_days -> Nullable<BigInt>,
        max_days -> Nullable<BigInt>,
    }
}

diesel::table! {
    shipments (id) {
        id -> BigInt,
        order_id -> BigInt,
        form_key -> Text,
        carrier -> Text,
        tracking_number -> Text,
        status -> Text,
        admin_id -> Nullable<BigInt>,
        shipped_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    shipment_lines (id) {
        id -> BigInt,
        shipment_id -> BigInt,
        order_item_id -> BigInt,
        quantity -> BigInt,
    }
}

diesel::table! {
    refund_lines (id) {
        id -> BigInt,
        refund_id -> BigInt,
        order_item_id -> BigInt,
        amount -> BigInt,
    }
}

diesel::table! {
    refund_restocks (id) {
        id -> BigInt,
        refund_id -> BigInt,
        order_item_id -> BigInt,
        quantity -> BigInt,
        cancelled -> BigInt,
    }
}

diesel::table! {
    refund_tokens (token) {
        token -> Text,
        order_id -> BigInt,
        admin_id -> BigInt,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
        refund_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        order_id -> Nullable<BigInt>,
        subject_user_id -> Nullable<BigInt>,
        details -> Text,
        created_at -> BigInt,
        product_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    installation (id) {
        id -> BigInt,
        install_id -> Text,
        mode -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    job_runs (name) {
        name -> Text,
        last_success_started_at -> BigInt,
    }
}

diesel::joinable!(cart_items -> carts (cart_id));
diesel::table! {
    user_sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    rate_limit_hits (id) {
        id -> BigInt,
        kind -> Text,
        bucket -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(orders -> users (user_id));
diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(subscriptions -> users (user_id));
diesel::joinable!(subscriptions -> prices (price_id));
diesel::joinable!(cart_items -> prices (price_id));
diesel::joinable!(order_items -> orders (order_id));
diesel::joinable!(stock_reservations -> orders (order_id));
diesel::joinable!(stock_reservations -> products (product_id));
diesel::joinable!(stripe_events -> orders (order_id));
diesel::joinable!(refunds -> orders (order_id));
diesel::joinable!(balance_transactions -> orders (order_id));
diesel::joinable!(refund_restocks -> refunds (refund_id));
diesel::joinable!(refund_lines -> refunds (refund_id));
diesel::joinable!(order_shipping -> orders (order_id));
diesel::joinable!(shipments -> orders (order_id));
diesel::joinable!(order_shipping_rates -> orders (order_id));
diesel::joinable!(licence_keys -> products (product_id));
diesel::joinable!(product_files -> products (product_id));
diesel::joinable!(shipment_lines -> shipments (shipment_id));
diesel::joinable!(shipment_lines -> order_items (order_item_id));

diesel::table! {
    instances (id) {
        id -> Text,
        started_at -> BigInt,
        seen_at -> BigInt,
    }
}

diesel::table! {
    stripe_usage (minute, endpoint) {
        minute -> BigInt,
        endpoint -> Text,
        requests -> BigInt,
        rate_limited -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    checkout_recoveries,
    recovery_unsubscribes,
    balance_transactions,
    balance_fetches,
    instances,
    stripe_usage,
    disputes,
    stripe_event_failures,
    products,
    product_variants,
    categories,
    product_images,
    product_redirects,
    prices,
    shipping_prices,
    stock_alerts,
    carts,
    cart_items,
    orders,
    order_items,
    stock_reservations,
    stripe_events,
    users,
    login_attempts,
    subscriptions,
    outbox,
    email_tokens,
    payment_failures,
    refunds,
    refund_lines,
    refund_restocks,
    order_shipping,
    shipping_rates,
    product_files,
    licence_keys,
    download_counts,
    order_shipping_rates,
    shipments,
    shipment_lines,
    refund_tokens,
    audit_log,
    subscription_checkouts,
    installation,
    job_runs,
    user_sessions,
    rate_limit_hits,
);
