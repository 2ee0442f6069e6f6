//! Single sign-on with the company's accounts: OpenID Connect's authorization code flow with
//! PKCE (S256), `state` and `nonce`, the issuer's endpoints and keys discovered from its URL
//! (`openidconnect`, any standard issuer; Infomaniak first).
//!
//! - [`Sso::begin`]: a new `state`, `nonce` and PKCE verifier, kept in Redis for ten minutes
//!   under the `state` with a random binding that also goes to the browser as a cookie; the
//!   browser is sent to the issuer's authorization endpoint.
//! - [`Sso::finish`]: the `state` is taken from Redis (once: a second use finds nothing) and
//!   must come back in the browser that began (the binding cookie), so that nobody can sign
//!   someone else's browser in with their own account; the code is exchanged with the
//!   verifier; the ID token is checked (signature with the issuer's keys, issuer, audience,
//!   expiry, nonce) before any claim is read.
//!
//! Which account it opens is the caller's business ([`crate::http::sso`]): the issuer says who
//! the person is, never what they may do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boom_cache::Cache;
use boom_config::{ExposeSecret, OidcSettings};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// How long a person has between leaving for the issuer and coming back.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// The issuer's metadata and keys are read again this often (keys rotate).
const METADATA_TTL: Duration = Duration::from_secs(600);
/// The cookie that ties a flow to the browser that began it.
pub const BINDING_COOKIE: &str = "boom_sso";

/// Why a sign-in through the issuer did not open a session. Each says what a person can do.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the issuer cannot be reached or described itself wrongly: {0}")]
    Issuer(String),
    #[error("this sign-in expired or was not begun here (state unknown or already used)")]
    UnknownState,
    #[error("this sign-in was begun in another browser")]
    WrongBrowser,
    #[error("the issuer refused: {0}")]
    Refused(String),
    #[error("the issuer's answer is not valid: {0}")]
    InvalidToken(String),
    #[error("the session store is unavailable: {0}")]
    Store(String),
}

/// What is kept between leaving for the issuer and coming back.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    binding: String,
    verifier: String,
    nonce: String,
}

/// Who the issuer says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    /// Only an address the issuer verified.
    pub email: Option<String>,
    pub name: Option<String>,
}

/// A flow begun: where to send the browser, and the binding to set as its cookie.
#[derive(Debug)]
pub struct Begun {
    pub authorize_url: String,
    pub binding: String,
}

/// Single sign-on as configured (`[oidc]`), with the issuer's metadata cached.
pub struct Sso {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    pub provider_name: String,
    /// When set, only addresses of these domains match an account (lower case).
    email_domains: Vec<String>,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .finish_non_exhaustive()
    }
}

/// openidconnect's HTTP through reqwest, without following redirects (no SSRF through the
/// issuer's answers).
async fn send(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        headers.extend(
            response
                .headers()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer
        .body(body)
        .unwrap_or_else(|_| openidconnect::http::Response::new(Vec::new())))
}

fn flow_key(cache: &Cache, state: &str) -> String {
    cache.key(&format!("sso:{state}"))
}

impl Sso {
    /// `None` when single sign-on is not configured.
    pub fn from_settings(settings: &OidcSettings) -> anyhow::Result<Option<Arc<Self>>> {
        let (Some(issuer), Some(client_id), Some(redirect)) = (
            &settings.issuer_url,
            &settings.client_id,
            &settings.redirect_url,
        ) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Some(Arc::new(Self {
            issuer: IssuerUrl::new(issuer.trim_end_matches('/').to_owned())?,
            client_id: ClientId::new(client_id.clone()),
            client_secret: settings
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
            redirect: RedirectUrl::new(redirect.clone())?,
            provider_name: settings.provider_name.clone(),
            email_domains: settings
                .email_domains
                .split(',')
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            metadata: RwLock::new(None),
            http,
        })))
    }

    /// The issuer's metadata and keys, read again after [`METADATA_TTL`] or when `fresh`.
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, SsoError> {
        if !fresh
            && let Some((at, metadata)) = self.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let http = self.http.clone();
        let client = move |request| send(http.clone(), request);
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &client)
            .await
            .map_err(|e| SsoError::Issuer(error_chain(&e)))?;
        *self.metadata.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Begins a sign-in: where to send the browser, and the binding for its cookie.
    pub async fn begin(&self, cache: &Cache) -> Result<Begun, SsoError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let binding = boom_contracts::keys::url_token(rand::random());
        let flow = Flow {
            binding: binding.clone(),
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        };
        let body = serde_json::to_string(&flow).map_err(|e| SsoError::Store(e.to_string()))?;
        let mut conn = cache
            .connection()
            .await
            .map_err(|e| SsoError::Store(e.to_string()))?;
        let _: () = boom_cache::redis::cmd("SET")
            .arg(flow_key(cache, state.secret()))
            .arg(body)
            .arg("EX")
            .arg(FLOW_TTL.as_secs())
            .query_async(&mut conn)
            .await
            .map_err(|e| SsoError::Store(e.to_string()))?;
        Ok(Begun {
            authorize_url: url.to_string(),
            binding,
        })
    }

    /// Finishes a sign-in: the identity the issuer vouches for, once everything checked out.
    pub async fn finish(
        &self,
        cache: &Cache,
        state: &str,
        code: &str,
        binding: Option<&str>,
    ) -> Result<Identity, SsoError> {
        // Taken, not read: a state serves once.
        let mut conn = cache
            .connection()
            .await
            .map_err(|e| SsoError::Store(e.to_string()))?;
        let kept: Option<String> = boom_cache::redis::cmd("GETDEL")
            .arg(flow_key(cache, state))
            .query_async(&mut conn)
            .await
            .map_err(|e| SsoError::Store(e.to_string()))?;
        drop(conn);
        let flow: Flow = kept
            .and_then(|k| serde_json::from_str(&k).ok())
            .ok_or(SsoError::UnknownState)?;
        if binding != Some(flow.binding.as_str()) {
            return Err(SsoError::WrongBrowser);
        }
        let client = self.client(self.metadata(false).await?);
        let http = self.http.clone();
        let send_with = move |request| send(http.clone(), request);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Issuer(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
            .request_async(&send_with)
            .await
            .map_err(|e| SsoError::Refused(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SsoError::InvalidToken("no ID token in the answer".to_owned()))?;
        let nonce = Nonce::new(flow.nonce);
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // Keys rotate: read them again once before refusing.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.metadata(true).await?);
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| SsoError::InvalidToken(e.to_string()))?
                    .clone()
            }
            Err(e) => return Err(SsoError::InvalidToken(e.to_string())),
        };
        // Issued to us: an ID token whose authorized party is another client is not ours.
        if let Some(azp) = claims.authorized_party()
            && azp.as_str() != self.client_id.as_str()
        {
            return Err(SsoError::InvalidToken(format!(
                "issued to another client ({})",
                azp.as_str()
            )));
        }
        let email = claims
            .email()
            .filter(|_| claims.email_verified() == Some(true))
            .map(|e| e.as_str().to_owned())
            .filter(|e| self.domain_allowed(e));
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned());
        Ok(Identity {
            subject: claims.subject().as_str().to_owned(),
            email,
            name,
        })
    }
}

impl Sso {
    /// Whether `email`'s domain may match an account (`oidc.email_domains`; any when unset).
    fn domain_allowed(&self, email: &str) -> bool {
        self.email_domains.is_empty()
            || email.rsplit_once('@').is_some_and(|(_, domain)| {
                self.email_domains
                    .iter()
                    .any(|allowed| domain.eq_ignore_ascii_case(allowed))
            })
    }
}

/// An error with its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
