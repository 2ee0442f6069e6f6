//! The gateway's command line: `serve` (default), `migrate`, `users add`.

use std::io::BufRead;

use anyhow::{Context, bail};
use boom_contracts::UserRole;
use boom_db::models::NewUser;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::passwords::{MIN_PASSWORD_LEN, hash_password};

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
    /// Event statistics.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Attribute media to events by their windows again, and rebuild the totals of events
    /// from their media rows: of one event (`--event ID`), or of all.
    Recount {
        #[arg(long)]
        event: Option<i32>,
    },
}

/// `events recount`: answers how many events were counted again and how many media rows
/// moved between events.
pub async fn recount(database_url: &str, event: Option<i32>) -> anyhow::Result<(usize, usize)> {
    use boom_db::schema::events;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    boom_db::ensure_migrated(database_url).await?;
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .context("cannot connect to PostgreSQL")?;
    let windows: Vec<(boom_contracts::EventId, crate::store::events::Placement)> = {
        let mut query = events::table
            .select((
                events::id,
                (
                    events::photomaton_id,
                    events::window_start,
                    events::window_end,
                ),
            ))
            .into_boxed();
        if let Some(id) = event {
            query = query.filter(events::id.eq(id));
        }
        query.load(&mut conn).await?
    };
    if event.is_some() && windows.is_empty() {
        bail!("no event {}", event.unwrap_or_default());
    }
    let mut moved = std::collections::BTreeSet::new();
    for (_, (booth, start, end)) in &windows {
        if let (Some(booth), Some(start), Some(end)) = (booth, start, end) {
            moved.extend(
                crate::store::events::reattribute(&mut conn, &[*booth], *start, *end).await?,
            );
        }
    }
    let ids: Vec<boom_contracts::EventId> = windows.iter().map(|w| w.0).collect();
    crate::store::events::recount(&mut conn, &ids).await?;
    Ok((ids.len(), moved.len()))
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
    let inserted = crate::store::users::insert(
        &mut conn,
        NewUser {
            username: username.to_owned(),
            role,
            password_hash,
            email: None,
        },
    )
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
