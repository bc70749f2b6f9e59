//! The disputes the shop keeps (see `sync::dispute_event`), as the order page shows them.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::disputes;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = disputes)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub evidence_due_by: Option<i64>,
    pub withdrawn: i64,
    pub reinstated: i64,
    pub fees: i64,
}

impl Dispute {
    /// What an admin reads for Stripe's status.
    pub fn status_label(&self) -> &'static str {
        match self.status.as_str() {
            "needs_response" => "Needs your response",
            "under_review" => "Under review by the bank",
            "warning_needs_response" => "Inquiry: needs your response",
            "warning_under_review" => "Inquiry under review",
            "warning_closed" => "Inquiry closed",
            "won" => "Won",
            "lost" => "Lost",
            "prevented" => "Prevented",
            _ => "Open",
        }
    }

    /// Evidence can (and must) still be sent.
    pub fn needs_response(&self) -> bool {
        matches!(
            self.status.as_str(),
            "needs_response" | "warning_needs_response"
        )
    }

    /// Where evidence is submitted.
    pub fn dashboard_url(&self, livemode: bool) -> String {
        let mode = if livemode { "" } else { "test/" };
        format!("https://dashboard.stripe.com/{mode}disputes/{}", self.id)
    }
}

pub fn for_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<Dispute>> {
    disputes::table
        .filter(disputes::order_id.eq(order_id))
        .order(disputes::created_at.asc())
        .select(Dispute::as_select())
        .load(conn)
}
