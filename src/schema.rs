//! Diesel's view of the tables, shared by both backends.
//! `tests/api/schema_matches.rs` proves it matches `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    products (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        description -> Text,
        image_url -> Nullable<Text>,
        active -> Bool,
        stock -> Nullable<BigInt>,
        position -> BigInt,
        stripe_product_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
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
    }
}

diesel::joinable!(prices -> products (product_id));
diesel::allow_tables_to_appear_in_same_query!(products, prices);
