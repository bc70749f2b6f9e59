//! What every page's layout needs: the demo ribbon, the shop name, the CSRF token for forms.

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::assets;
use super::session::{page_token, take_flash};
use crate::error::AppError;
use crate::state::AppState;

pub const SHOP_NAME: &str = "Storefront";

#[derive(Debug, Clone)]
pub struct Layout {
    pub shop_name: &'static str,
    pub demo: bool,
    pub csrf_token: String,
    pub stylesheet: &'static str,
    /// From the session, for the header only; access checks load the user.
    pub signed_in: bool,
    pub is_admin: bool,
    /// The one-time message left by the previous request (Post/Redirect/Get), shown once.
    pub flash: Option<String>,
}

impl Layout {
    pub fn from_request(req: &HttpRequest) -> Self {
        let demo = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.config.is_demo());
        let session = req.get_session();
        let csrf_token = page_token(req);
        let role = crate::accounts::auth::session_role(&session);
        let flash = take_flash(&session);
        Self {
            flash,
            signed_in: role.is_some(),
            is_admin: role.as_deref() == Some(crate::accounts::model::ADMIN),
            shop_name: SHOP_NAME,
            demo,
            csrf_token,
            stylesheet: assets::stylesheet_path(),
        }
    }
}

impl FromRequest for Layout {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self::from_request(req)))
    }
}
