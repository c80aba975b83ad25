//! Lists of the interface that span pages (projects, groups): the page a query asks for (a
//! number from 1; anything else is the first page) and the "Previous" / "Page n of m" / "Next"
//! links under the list.

use maud::{html, Markup};

use crate::store::PageRequest;

/// The page a list shows and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::http) struct Pages {
    pub page: i64,
    pub per_page: i64,
}

/// The highest page number a query may ask for (the offset stays far from overflowing).
const MAX_PAGE: i64 = 100_000;

impl Pages {
    /// Page `raw` (the query's `page`) of `per_page` rows.
    pub(in crate::http) fn at(raw: Option<&str>, per_page: i64) -> Pages {
        let page = raw
            .and_then(|p| p.trim().parse::<i64>().ok())
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .unwrap_or(1);
        Pages { page, per_page }
    }

    pub(in crate::http) fn request(&self) -> PageRequest {
        PageRequest {
            page: self.page,
            per_page: self.per_page,
        }
    }

    /// How many pages `total` rows fill (at least one).
    pub(in crate::http) fn count(&self, total: i64) -> i64 {
        ((total + self.per_page - 1) / self.per_page).max(1)
    }
}

/// The links under a list of `total` rows; `href(n)` is page n's address. Nothing when all
/// rows fit on one page.
pub(in crate::http) fn pager(pages: &Pages, total: i64, href: impl Fn(i64) -> String) -> Markup {
    let last = pages.count(total);
    html! {
        @if last > 1 || pages.page > 1 {
            nav class="pager" aria-label="Pages" {
                @if pages.page > 1 {
                    a rel="prev" href=(href((pages.page - 1).min(last))) { "Previous" }
                }
                span { "Page " (pages.page) " of " (last) }
                @if pages.page < last {
                    a rel="next" href=(href(pages.page + 1)) { "Next" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_a_number_from_one() {
        assert_eq!(Pages::at(Some("3"), 20).page, 3);
        for bad in [
            None,
            Some("0"),
            Some("-1"),
            Some("x"),
            Some("99999999999999"),
        ] {
            assert_eq!(Pages::at(bad, 20).page, 1, "{bad:?}");
        }
        assert_eq!(Pages::at(Some("2"), 20).request().offset(), 20);
    }

    #[test]
    fn the_pager_links_its_neighbours() {
        let p = Pages::at(Some("2"), 20);
        assert_eq!(p.count(41), 3);
        assert_eq!(p.count(0), 1);
        let html = pager(&p, 41, |n| format!("/l?page={n}")).into_string();
        assert!(html.contains("href=\"/l?page=1\"") && html.contains("href=\"/l?page=3\""));
        assert!(html.contains("Page 2 of 3"), "{html}");
        assert!(pager(&Pages::at(None, 20), 5, |_| String::new())
            .into_string()
            .is_empty());
    }
}
