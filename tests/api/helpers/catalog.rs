use super::TestApp;
use storefront::catalog::seed::{self, CatalogFile, SeedReport};
use storefront::money::Currency;

impl TestApp {
    /// Seeds a catalogue file (TOML, the shop's currency USD) as `storefront seed` does, and
    /// makes the pages see it at once.
    pub async fn seed_catalogue(&self, text: &str) -> SeedReport {
        let usd = Currency::parse("usd").unwrap();
        let file = CatalogFile::parse(text, usd).unwrap();
        let report = storefront::db::run(&self.pool, move |conn| {
            seed::seed(conn, &file, usd, 1_800_000_000).map_err(|e| {
                storefront::db::DbError::Query(diesel::result::Error::QueryBuilderError(
                    e.to_string().into(),
                ))
            })
        })
        .await
        .unwrap();
        self.state.catalogue.invalidate();
        report
    }
}
