//! What search engines read: `GET /robots.txt`, `GET /sitemap.xml` (every product on sale and
//! every category with products, from the catalogue snapshot), and for each product page its
//! canonical address, a meta description and `Product` JSON-LD with the live price and
//! availability.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::model::Listing;
use crate::error::AppError;
use crate::money::{Currency, Money};
use crate::state::AppState;

/// Longest meta description (search engines cut around here).
const DESCRIPTION_CHARS: usize = 160;

/// Pages crawlers have no business in: private, per-visitor or state-changing.
pub async fn robots(state: web::Data<AppState>) -> HttpResponse {
    let base = state.public_url.as_str().trim_end_matches('/');
    let body = format!(
        "User-agent: *\nDisallow: /admin\nDisallow: /account\nDisallow: /cart\nDisallow: /checkout\nDisallow: /downloads\nDisallow: /search\nSitemap: {base}/sitemap.xml\n"
    );
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

pub async fn sitemap(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let catalogue = state.catalogue.get().await?;
    let base = state.public_url.as_str().trim_end_matches('/');
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    xml.push_str(&format!("  <url><loc>{}/</loc></url>\n", escape_xml(base)));
    for listing in catalogue.listings() {
        let p = &listing.product;
        let lastmod = chrono::DateTime::from_timestamp(p.updated_at, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        xml.push_str(&format!(
            "  <url><loc>{}</loc><lastmod>{lastmod}</lastmod></url>\n",
            escape_xml(&format!("{base}/products/{}", p.slug))
        ));
    }
    for c in catalogue.categories() {
        xml.push_str(&format!(
            "  <url><loc>{}</loc></url>\n",
            escape_xml(&format!("{base}/categories/{}", c.slug))
        ));
    }
    xml.push_str("</urlset>\n");
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(xml))
}

pub(crate) fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `url` made absolute against the page's own address (`/static/…` → `https://shop/static/…`).
fn absolute(page: &str, url: &str) -> String {
    url::Url::parse(page)
        .and_then(|base| base.join(url))
        .map(String::from)
        .unwrap_or_else(|_| url.to_owned())
}

/// The product's address that search engines should index.
pub fn canonical(public_url: &url::Url, slug: &str) -> String {
    format!(
        "{}/products/{slug}",
        public_url.as_str().trim_end_matches('/')
    )
}

/// The description's first paragraph, cut at a word to fit a search result.
pub fn meta_description(description: &str) -> String {
    let first = description.split("\n\n").next().unwrap_or_default().trim();
    let flat: String = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= DESCRIPTION_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(DESCRIPTION_CHARS - 1).collect();
    let at_word = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{at_word}…")
}

/// `Product` JSON-LD for a product page: its one-time price (the first), in stock or not, with
/// `description` (the page's meta description). Written directly rather than through a JSON
/// tree: the product page is the shop's busiest. Safe inside `<script>`: every text is a JSON
/// string with `<`, `>` and `&` escaped, so no product can end the element.
/// With several variants, one `Offer` per variant (its SKU, price and availability).
pub fn product_json_ld(
    listing: &Listing,
    (available, variant_available): (Option<i64>, &dyn Fn(i64) -> Option<i64>),
    canonical: &str,
    description: &str,
    shop: &str,
) -> Option<String> {
    let p = &listing.product;
    let (url, name) = (text(canonical), text(&p.name));
    let offer = |price: &super::model::Price, available: Option<i64>, sku: Option<&str>| {
        let money = Money::new(price.unit_amount, Currency::parse(&price.currency).ok()?);
        let availability = if available == Some(0) {
            "OutOfStock"
        } else {
            "InStock"
        };
        Some(format!(
            "{{\"@type\":\"Offer\",\"url\":{url},{}\"price\":\"{}\",\"priceCurrency\":\"{}\",\"availability\":\"https://schema.org/{availability}\",\"seller\":{{\"@type\":\"Organization\",\"name\":{}}}}}",
            sku.map(|s| format!("\"sku\":{},", text(s)))
                .unwrap_or_default(),
            money.to_major_string(),
            money.currency.code().to_uppercase(),
            text(shop),
        ))
    };
    let offers = match listing.variants.len() {
        0 | 1 => offer(
            listing.prices.iter().find(|x| !x.is_recurring())?,
            available,
            None,
        )?,
        _ => {
            let each: Vec<String> = listing
                .variants
                .iter()
                .filter_map(|v| {
                    offer(
                        listing.price_of(v.id)?,
                        variant_available(v.id),
                        v.sku.as_deref(),
                    )
                })
                .collect();
            format!("[{}]", each.join(","))
        }
    };
    let image = listing
        .picture(super::images::Size::Large)
        .map(|(url, _)| format!(",\"image\":{}", text(&absolute(canonical, &url))))
        .unwrap_or_default();
    Some(format!(
        "{{\"@context\":\"https://schema.org\",\"@type\":\"Product\",\"name\":{name},\"description\":{},\"sku\":{},\"url\":{url}{image},\"offers\":{offers}}}",
        text(description),
        text(&p.slug),
    ))
}

/// `s` as a JSON string that cannot end a `<script>` element.
fn text(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_descriptions_take_the_first_paragraph_and_cut_at_a_word() {
        assert_eq!(meta_description("One.\n\nTwo."), "One.");
        assert_eq!(meta_description("  Spaced\n out  "), "Spaced out");
        let long = "word ".repeat(60);
        let cut = meta_description(&long);
        assert!(cut.ends_with("word…"), "{cut}");
        assert!(cut.chars().count() <= DESCRIPTION_CHARS);
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(escape_xml("a&b<c>\""), "a&amp;b&lt;c&gt;&quot;");
    }
}
