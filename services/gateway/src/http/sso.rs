//! Single sign-on's pages: `GET /api/auth/oidc/login` sends the browser to the issuer,
//! `GET /api/auth/oidc/callback` brings it back signed in — as an account an admin created,
//! found by the issuer's subject once bound, else by the e-mail address the issuer verified
//! (then bound). The role is ours; the issuer only says who the person is. Every outcome is
//! a page a person can read (French first, English below) and every attempt is audited.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::UserRole;
use boom_db::schema::users;
use boom_server::ApiError;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::errors::OrApi;
use crate::http::account::open_for;
use crate::http::client_ip;
use crate::http::escape_html as escape;
use crate::http::session;
use crate::sso::{BINDING_COOKIE, FLOW_TTL, SsoError};
use crate::state::AppState;
use crate::store::audit::{Actor, Audit};
use crate::store::users as user_store;

/// How the sign-in page offers single sign-on.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Providers {
    /// `null` when single sign-on is not configured.
    pub oidc: Option<OidcProvider>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    /// "Infomaniak": the button says "Se connecter avec Infomaniak".
    pub name: String,
    pub login_url: String,
}

/// What the sign-in page may offer besides passwords (no session needed).
pub async fn providers(state: web::Data<AppState>) -> web::Json<Providers> {
    web::Json(Providers {
        oidc: state.sso.as_ref().map(|sso| OidcProvider {
            name: sso.provider_name.clone(),
            login_url: "/api/auth/oidc/login".to_owned(),
        }),
    })
}

/// A page that says what happened, in French then English, with a way back.
fn page(status: actix_web::http::StatusCode, french: &str, english: &str) -> HttpResponse {
    let html = format!(
        r#"<!doctype html><html lang="fr"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>LE BOOM — connexion</title>
<style>body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}}.brand{{font-weight:800;letter-spacing:.08em;color:#5b3cc4}}h1{{font-size:1.35rem;line-height:1.35}}p.en{{color:#5f5f66}}a{{color:#5b3cc4}}</style>
<p class="brand">LE BOOM</p><h1 data-sso-outcome>{french}</h1><p class="en" lang="en">{english}</p><p><a href="/#/login">Retour à la connexion</a> · <a href="/#/login" lang="en">Back to sign-in</a></p></html>"#
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

fn with_cookie(mut response: HttpResponse, cookie: &Cookie<'_>) -> HttpResponse {
    let _ignored = response.add_cookie(cookie);
    response
}

fn binding_cookie(request: &HttpRequest, value: Option<&str>) -> Cookie<'static> {
    let mut cookie = Cookie::build(BINDING_COOKIE, value.unwrap_or_default().to_owned())
        .path("/api/auth/oidc")
        .http_only(true)
        // Lax: sent when the issuer sends the browser back (a top-level GET).
        .same_site(SameSite::Lax)
        .secure(request.connection_info().scheme() == "https")
        .finish();
    match value {
        Some(_) => cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(FLOW_TTL.as_secs()).unwrap_or(600),
        )),
        None => cookie.make_removal(),
    }
    cookie
}

/// Sends the browser to the issuer (302), with a new state, nonce and PKCE challenge.
pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(sso) = &state.sso else {
        return Ok(page(
            actix_web::http::StatusCode::NOT_FOUND,
            "La connexion par compte d’entreprise n’est pas configurée.",
            "Single sign-on is not configured on this gateway.",
        ));
    };
    // Each start writes a flow to Redis: a few per minute per address is what a person needs.
    let address = client_ip(&request)
        .map(|ip| ip.addr().to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    let key = format!("sso-ip:{address}");
    if state.cache.window_hits(&key).await.or_api()? >= STARTS_PER_MINUTE {
        return Ok(page(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives de connexion depuis cette adresse : réessayez dans une minute.",
            "Too many sign-ins from this address: try again in a minute.",
        ));
    }
    state
        .cache
        .count_in_window(&key, std::time::Duration::from_secs(60))
        .await
        .or_api()?;
    match sso.begin(&state.cache).await {
        Ok(begun) => Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, begun.authorize_url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(binding_cookie(&request, Some(&begun.binding)))
            .finish()),
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on could not begin");
            Ok(page(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "{} ne répond pas : réessayez dans un instant, ou connectez-vous avec votre mot de passe si vous en avez un.",
                    escape(&sso.provider_name)
                ),
                &format!(
                    "{} does not answer: try again in a moment.",
                    escape(&sso.provider_name)
                ),
            ))
        }
    }
}

/// Sign-ins begun per client address and minute.
const STARTS_PER_MINUTE: u32 = 20;

/// At most `n` characters of what a visitor sent, for the audit log.
fn clip(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// What the issuer sends back. Issuers add their own parameters (`iss`, `session_state`): not
/// refused.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// OAuth's error code; its `error_description` (anyone can write one into a link) is not
    /// read.
    pub error: Option<String>,
}

async fn audit_refusal(
    state: &AppState,
    request: &HttpRequest,
    reason: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let mut conn = state.conn().await?;
    let mut all = json!({"method": "oidc", "reason": reason});
    if let (Some(all), Some(more)) = (all.as_object_mut(), details.as_object()) {
        all.extend(more.clone());
    }
    Audit::new("auth.login_failed", "user", None)
        .details(all)
        .write(
            &mut conn,
            &Actor {
                user_id: None,
                username: None,
                ip: client_ip(request),
            },
        )
        .await
        .or_api()
}

/// The issuer's answer: a session, or a page that says why not.
pub async fn callback(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    use actix_web::http::StatusCode;
    let Some(sso) = state.sso.clone() else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            "La connexion par compte d’entreprise n’est pas configurée.",
            "Single sign-on is not configured on this gateway.",
        ));
    };
    let query = query.into_inner();
    let provider = escape(&sso.provider_name);
    if let Some(error) = &query.error {
        // Said with the error's code only (OAuth's codes are short words): a description
        // anyone can put in a link is not shown on our pages.
        let code: String = clip(error, 40)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        audit_refusal(&state, &request, "issuer refused", json!({"error": code})).await?;
        return Ok(with_cookie(
            page(
                StatusCode::FORBIDDEN,
                &format!("{provider} n’a pas confirmé votre identité."),
                &format!("{provider} did not confirm who you are ({code})."),
            ),
            &binding_cookie(&request, None),
        ));
    }
    let (Some(code), Some(flow_state)) = (&query.code, &query.state) else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Ce lien de connexion est incomplet.",
            "This sign-in link lacks its code or state.",
        ));
    };
    let binding = request.cookie(BINDING_COOKIE).map(|c| c.value().to_owned());
    let identity = match sso
        .finish(&state.cache, flow_state, code, binding.as_deref())
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            let (status, french) = match &e {
                SsoError::UnknownState | SsoError::WrongBrowser => (
                    StatusCode::BAD_REQUEST,
                    "Cette connexion a expiré ou n’a pas été commencée ici : recommencez.",
                ),
                SsoError::InvalidToken(_) => (
                    StatusCode::BAD_REQUEST,
                    "La réponse de l’annuaire n’est pas valide : connexion refusée.",
                ),
                SsoError::Refused(_) | SsoError::Issuer(_) => (
                    StatusCode::BAD_GATEWAY,
                    "L’annuaire de l’entreprise n’a pas pu confirmer votre identité : réessayez.",
                ),
                SsoError::Store(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Le service est momentanément indisponible : réessayez.",
                ),
            };
            tracing::warn!(error = %e, "single sign-on refused");
            audit_refusal(&state, &request, &clip(&e.to_string(), 300), json!({})).await?;
            // What was wrong with a token helps whoever set the issuer up; what went wrong
            // inside (the issuer's or Redis's errors) stays in the logs.
            let english = match &e {
                SsoError::InvalidToken(_) | SsoError::UnknownState | SsoError::WrongBrowser => {
                    escape(&e.to_string())
                }
                SsoError::Refused(_) | SsoError::Issuer(_) => {
                    "The company directory could not confirm who you are: try again.".to_owned()
                }
                SsoError::Store(_) => {
                    "The service is unavailable for a moment: try again.".to_owned()
                }
            };
            return Ok(with_cookie(
                page(status, french, &english),
                &binding_cookie(&request, None),
            ));
        }
    };
    let mut conn = state.conn().await?;
    let user =
        user_store::find_for_sign_on(&mut conn, &identity.subject, identity.email.as_deref())
            .await
            .or_api()?;
    let Some(user) = user else {
        // Whom to ask, by the names admins gave themselves: never their usernames (half of
        // the password sign-in they keep).
        let names: Vec<Option<String>> = users::table
            .filter(users::role.eq(UserRole::Admin))
            .filter(users::name.is_not_null())
            .select(users::name)
            .order(users::name.asc())
            .limit(5)
            .load(&mut conn)
            .await
            .or_api()?;
        drop(conn);
        let names: Vec<String> = names.into_iter().flatten().map(|n| escape(&n)).collect();
        let whom = if names.is_empty() {
            "de LE BOOM".to_owned()
        } else {
            format!("({})", names.join(", "))
        };
        let whom_en = if names.is_empty() {
            "of LE BOOM".to_owned()
        } else {
            format!("({})", names.join(", "))
        };
        let who = escape(
            identity
                .email
                .as_deref()
                .unwrap_or("(adresse non vérifiée)"),
        );
        audit_refusal(
            &state,
            &request,
            "no account",
            json!({"email": identity.email, "subject": identity.subject, "name": identity.name}),
        )
        .await?;
        return Ok(with_cookie(
            page(
                StatusCode::FORBIDDEN,
                &format!(
                    "Aucun compte LE BOOM n’est ouvert pour {who}. Demandez à un administrateur {whom} de créer votre compte avec cette adresse e-mail."
                ),
                &format!(
                    "No LE BOOM account for {who}: ask an administrator {whom_en} to create yours with this e-mail address."
                ),
            ),
            &binding_cookie(&request, None),
        ));
    };
    drop(conn);
    let (_, token, _) = open_for(&state, &request, user.id, "oidc").await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/#/"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::session_cookie(&request, Some(&token)))
        .cookie(binding_cookie(&request, None))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_the_issuer_or_the_person_sent() {
        assert_eq!(
            escape("<b>\"x\" & y</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;"
        );
    }
}
