//! Security headers sent with every response.

use actix_web::middleware::DefaultHeaders;

/// Builds the headers. `payment_origins` are where our forms redirect to (Checkout and the
/// Billing Portal): browsers apply `form-action` to the redirect that follows a form POST.
pub fn headers(payment_origins: &[String], https: bool) -> DefaultHeaders {
    let form_action = std::iter::once("'self'".to_owned())
        .chain(payment_origins.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
    );
    let mut headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ));
    if https {
        headers = headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    headers
}

/// Where Stripe's hosted pages live when talking to real Stripe.
pub fn stripe_origins() -> Vec<String> {
    vec![
        "https://checkout.stripe.com".into(),
        "https://billing.stripe.com".into(),
    ]
}
