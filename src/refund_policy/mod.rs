//! `GET /refund-policy`: the merchant's refund policy, written in Markdown (`REFUND_POLICY_FILE`,
//! or a sensible default), rendered once at start-up.
//!
//! The file is the merchant's, but whatever it holds becomes part of our pages, so it is
//! rendered as Markdown only: raw HTML in it is shown as text, and a link or image whose target
//! is not a web, mail or phone address (or a path on this site) is dropped, its text kept.

use std::path::Path;

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

use crate::state::AppState;
use crate::web::layout::Layout;

/// The policy shipped with the shop, for a merchant who has not written their own.
pub const DEFAULT: &str = include_str!("default.md");

/// The most a policy file may hold: a policy, not a book.
const MAX_BYTES: u64 = 256 * 1024;

/// The rendered policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub html: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            html: render(DEFAULT),
        }
    }
}

/// Reads and renders the merchant's file, or the default without one.
pub fn load(file: Option<&Path>) -> Result<Policy, String> {
    let Some(path) = file else {
        return Ok(Policy::default());
    };
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if len > MAX_BYTES {
        return Err(format!(
            "{} is {len} bytes; a refund policy may be at most {MAX_BYTES}",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {} as UTF-8 text: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Policy {
        html: render(&text),
    })
}

/// Markdown to HTML, with raw HTML escaped and unsafe link targets dropped.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    // Links and images whose start was dropped: their ends go too (they nest, so a stack).
    let mut dropped: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let safe = safe_target(dest_url);
            dropped.push(!safe);
            safe.then_some(event)
        }
        // An unsafe image becomes its alt text (the events inside it), shown as text.
        Event::Start(Tag::Image { ref dest_url, .. }) => {
            let safe = safe_target(dest_url);
            dropped.push(!safe);
            safe.then_some(event)
        }
        Event::End(TagEnd::Link | TagEnd::Image) => {
            if dropped.pop().unwrap_or(false) {
                None
            } else {
                Some(event)
            }
        }
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// A link target we let through: `http(s):`, `mailto:`, `tel:`, or one without a scheme (a path,
/// a fragment). Browsers ignore tabs, newlines and leading spaces in a scheme, so those are
/// removed before looking.
fn safe_target(target: &CowStr<'_>) -> bool {
    let cleaned: String = target
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    // `//host/…` and `\\host` leave the site whatever the page's scheme.
    if cleaned.starts_with("//") || cleaned.starts_with('\\') {
        return false;
    }
    match cleaned.find(':') {
        None => true,
        // A colon after the path, query or fragment started is not a scheme's.
        Some(colon) if cleaned[..colon].contains(['/', '?', '#']) => true,
        Some(colon) => matches!(&cleaned[..colon], "http" | "https" | "mailto" | "tel"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "refund_policy.html")]
pub struct RefundPolicyPage {
    pub layout: Layout,
    pub body: String,
}

pub async fn page(state: web::Data<AppState>, layout: Layout) -> RefundPolicyPage {
    RefundPolicyPage {
        layout,
        body: state.refund_policy.html.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html =
            render("# Returns\n\nWithin **30 days**, see [our FAQ](/faq).\n\n- one\n- two\n");
        assert!(html.contains("<h1>Returns</h1>"), "{html}");
        assert!(html.contains("<strong>30 days</strong>"), "{html}");
        assert!(html.contains(r#"<a href="/faq">our FAQ</a>"#), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = render(
            "<script>alert(1)</script>\n\nHello <img src=x onerror=alert(1)> <b>there</b>\n",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn script_and_data_links_are_dropped_and_their_text_kept() {
        for target in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "//evil.example/x",
            "\\\\evil.example\\x",
        ] {
            let html = render(&format!("[click me]({target}) and ![pic]({target})"));
            assert!(!html.contains("<a"), "{target}: {html}");
            assert!(!html.contains("<img"), "{target}: {html}");
            assert!(html.contains("click me"), "{target}: {html}");
            assert!(html.contains("pic"), "{target}: {html}");
        }
        let html = render("<javascript:alert(1)>");
        assert!(!html.contains("href"), "{html}");
    }

    #[test]
    fn web_mail_and_phone_links_stay() {
        let html = render(
            "[a](https://example.com/returns) [b](mailto:help@example.com) [c](tel:+15551234) [d](#top) [e](/contact?x=a:b)",
        );
        for href in [
            "https://example.com/returns",
            "mailto:help@example.com",
            "tel:+15551234",
            "#top",
            "/contact?x=a:b",
        ] {
            assert!(
                html.contains(&format!(r#"href="{href}""#)),
                "{href}: {html}"
            );
        }
    }

    #[test]
    fn a_missing_or_empty_file_is_refused_and_no_file_means_the_default() {
        assert!(load(Some(Path::new("/nonexistent/policy.md"))).is_err());
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert!(load(Some(empty.path())).is_err());
        assert!(load(None).unwrap().html.contains("<h1>Refund policy</h1>"));
    }
}
