//! The gateway's command line: `serve` (default), `migrate`, `users add`.

use std::io::BufRead;

use anyhow::{Context, bail};
use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use boom_contracts::UserRole;
use boom_db::models::NewUser;
use boom_db::schema::users;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(Debug, clap::Parser)]
#[command(
    name = "boom-gateway",
    version,
    about = "LE BOOM gateway: dashboard, JSON API, live updates"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the dashboard and the API (the default).
    Serve,
    /// Apply pending database migrations and exit. Safe to run from several places at once.
    Migrate,
    /// Manage the people who sign in.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from standard input (one line).
    Add {
        #[arg(long)]
        username: String,
        /// admin, installer or viewer.
        #[arg(long, value_parser = parse_role)]
        role: UserRole,
    },
}

fn parse_role(text: &str) -> Result<UserRole, String> {
    text.parse::<UserRole>().map_err(|e| e.to_string())
}

/// The shortest password `users add` accepts.
pub const MIN_PASSWORD_LEN: usize = 10;

/// argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

/// Reads one line from `input`: the password, without its line ending.
pub fn read_password(input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    let mut input = input;
    input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.chars().count() < MIN_PASSWORD_LEN {
        bail!(
            "the password must have at least {MIN_PASSWORD_LEN} characters (read from standard input)"
        );
    }
    Ok(password)
}

/// Creates a user with an argon2id hash of `password`.
pub async fn add_user(
    database_url: &str,
    username: &str,
    role: UserRole,
    password: &str,
) -> anyhow::Result<()> {
    boom_db::ensure_migrated(database_url).await?;
    let password_hash = hash_password(password)?;
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .context("cannot connect to PostgreSQL")?;
    let inserted = diesel::insert_into(users::table)
        .values(NewUser {
            username: username.to_owned(),
            role,
            password_hash,
        })
        .execute(&mut conn)
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if boom_db::is_unique_violation(&e) => {
            bail!("a user named `{username}` already exists")
        }
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::CheckViolation,
            _,
        )) => {
            bail!("`{username}` is not a valid username: 2 to 64 letters, digits, `.`, `_` or `-`")
        }
        Err(e) => Err(e).context("cannot create the user"),
    }
}
