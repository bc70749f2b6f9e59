//! The product grid shared by the shop's front page, category pages and search: the order a
//! shopper chose (`?sort=`) and the page they are on (`?page=`, [`PER_PAGE`] cards a page).
//! Links carry only what differs from the defaults, so the plain front page stays `/`.

use serde::Deserialize;

use super::model::Listing;
use crate::error::AppError;

/// Cards on one page.
pub const PER_PAGE: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// The shop's own order (or, for a search, best match first).
    Featured,
    PriceLow,
    PriceHigh,
    Newest,
}

impl Sort {
    pub const ALL: [Sort; 4] = [
        Sort::Featured,
        Sort::PriceLow,
        Sort::PriceHigh,
        Sort::Newest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Featured => "featured",
            Sort::PriceLow => "price",
            Sort::PriceHigh => "price-desc",
            Sort::Newest => "newest",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "" => Some(Sort::Featured),
            s => Self::ALL.into_iter().find(|x| x.as_str() == s),
        }
    }

    pub fn label(self, searching: bool) -> &'static str {
        match (self, searching) {
            (Sort::Featured, false) => "Featured",
            (Sort::Featured, true) => "Best match",
            (Sort::PriceLow, _) => "Price: low to high",
            (Sort::PriceHigh, _) => "Price: high to low",
            (Sort::Newest, _) => "Newest",
        }
    }
}

/// The query string of a grid page, as typed: checked by [`GridQuery::parse`].
#[derive(Debug, Default, Deserialize)]
pub struct GridQuery {
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub page: String,
    #[serde(default)]
    pub q: String,
}

impl GridQuery {
    /// The sort and the page number, or a 400 that says what was wrong.
    pub fn parse(&self) -> Result<(Sort, usize), AppError> {
        let sort = Sort::parse(&self.sort).ok_or_else(|| {
            AppError::BadRequest(format!(
                "Unknown sort order {:?}: use one of featured, price, price-desc or newest.",
                self.sort.chars().take(40).collect::<String>()
            ))
        })?;
        let page = match self.page.as_str() {
            "" => 1,
            typed => typed
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=100_000).contains(p))
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "The page number must be a whole number from 1.".to_owned(),
                    )
                })?,
        };
        Ok((sort, page))
    }
}

/// Puts listings in the chosen order; the given order is the featured one. Ties keep it.
pub fn arrange(listings: &mut [&Listing], sort: Sort) {
    match sort {
        Sort::Featured => {}
        Sort::PriceLow => listings.sort_by_key(|l| l.from_amount()),
        Sort::PriceHigh => listings.sort_by_key(|l| std::cmp::Reverse(l.from_amount())),
        Sort::Newest => listings.sort_by_key(|l| std::cmp::Reverse(l.product.created_at)),
    }
}

/// Where a grid page is: its number, how many there are, and the links around it.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// The address of a grid page: `path` with the search, the sort and the page when they are not
/// the defaults.
pub fn link(path: &str, q: &str, sort: Sort, page: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if sort != Sort::Featured {
        query.append_pair("sort", sort.as_str());
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Page `page` of `items`, or 404 past the last page (page 1 of nothing is an empty page).
pub fn paginate<T>(
    items: Vec<T>,
    page: usize,
    path: &str,
    q: &str,
    sort: Sort,
) -> Result<(Vec<T>, Pager), AppError> {
    let pages = items.len().div_ceil(PER_PAGE).max(1);
    if page > pages {
        return Err(AppError::NotFound);
    }
    let shown = items
        .into_iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .collect();
    Ok((
        shown,
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(path, q, sort, page - 1)),
            next: (page < pages).then(|| link(path, q, sort, page + 1)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_only_what_is_not_the_default() {
        assert_eq!(link("/", "", Sort::Featured, 1), "/");
        assert_eq!(link("/", "", Sort::Newest, 2), "/?sort=newest&page=2");
        assert_eq!(
            link("/search", "tote bag", Sort::Featured, 1),
            "/search?q=tote+bag"
        );
    }

    #[test]
    fn pages_hold_24_and_past_the_last_is_not_found() {
        let items: Vec<usize> = (0..50).collect();
        let (shown, pager) = paginate(items.clone(), 3, "/", "", Sort::Featured).unwrap();
        assert_eq!(shown, vec![48, 49]);
        assert_eq!((pager.page, pager.pages), (3, 3));
        assert_eq!(pager.prev.as_deref(), Some("/?page=2"));
        assert_eq!(pager.next, None);
        assert!(matches!(
            paginate(items, 4, "/", "", Sort::Featured),
            Err(AppError::NotFound)
        ));
        let (shown, pager) = paginate(Vec::<usize>::new(), 1, "/", "", Sort::Featured).unwrap();
        assert!(shown.is_empty() && pager.pages == 1);
    }

    #[test]
    fn bad_sorts_and_pages_are_refused_with_a_reason() {
        let query = |sort: &str, page: &str| GridQuery {
            sort: sort.into(),
            page: page.into(),
            q: String::new(),
        };
        assert_eq!(query("", "").parse().unwrap(), (Sort::Featured, 1));
        assert_eq!(
            query("price-desc", "2").parse().unwrap(),
            (Sort::PriceHigh, 2)
        );
        for (sort, page) in [("cheapest", ""), ("", "0"), ("", "-1"), ("", "two")] {
            assert!(matches!(
                query(sort, page).parse(),
                Err(AppError::BadRequest(_))
            ));
        }
    }
}
