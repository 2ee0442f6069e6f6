//! The `[oidc]` section: single sign-on with the company's accounts (Infomaniak first, any
//! standard OpenID Connect issuer). Off unless `issuer_url` is set.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OidcSettings {
    /// The issuer (`https://login.infomaniak.com`): its endpoints and keys are discovered from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// This gateway's callback as registered with the issuer
    /// (`https://boom.example.com/api/auth/oidc/callback`).
    pub redirect_url: Option<String>,
    /// The button's words on the sign-in page: "Se connecter avec …".
    pub provider_name: String,
    /// Comma-separated domains (`leboom.fr,leboom.ch`): only addresses there match an
    /// account by e-mail. Empty: any address the issuer verified.
    pub email_domains: String,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer_url: None,
            client_id: None,
            client_secret: None,
            redirect_url: None,
            provider_name: "Infomaniak".to_owned(),
            email_domains: String::new(),
        }
    }
}

impl OidcSettings {
    /// Whether single sign-on is configured (checked complete by `Settings::load`).
    pub fn enabled(&self) -> bool {
        self.issuer_url.is_some()
    }
}
