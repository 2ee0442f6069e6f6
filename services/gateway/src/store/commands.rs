//! Remote commands: what an installer sends a booth's agent from the dashboard (one of the
//! command lines the agent's own configuration names), and what became of it. A command goes
//! `queued` → `sent` (the agent has it) → `succeeded` / `failed`, or `expired` when nobody
//! took it in time (or took it and never reported); a status never goes back — but the real
//! outcome of a command taken at the last moment replaces `expired`.

use boom_contracts::agent::{CommandStatus, MAX_COMMAND_OUTPUT, QueuedCommand, truncate_output};
use boom_contracts::{PhotomatonId, UserId};
use boom_db::models::{AgentCommand, NewAgentCommand};
use boom_db::schema::agent_commands;
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandView {
    pub id: uuid::Uuid,
    pub photomaton_id: PhotomatonId,
    pub command: String,
    pub status: CommandStatus,
    pub output: Option<String>,
    pub exit_code: Option<i32>,
    pub requested_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

impl From<AgentCommand> for CommandView {
    fn from(c: AgentCommand) -> Self {
        Self {
            id: c.id,
            photomaton_id: c.photomaton_id,
            command: c.command,
            // The CHECK constraint admits nothing else.
            status: CommandStatus::parse(&c.status).unwrap_or(CommandStatus::Failed),
            output: c.output,
            exit_code: c.exit_code,
            requested_by: c.requested_by,
            created_at: c.created_at,
            sent_at: c.sent_at,
            finished_at: c.finished_at,
            expires_at: c.expires_at,
        }
    }
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: NewAgentCommand,
) -> QueryResult<AgentCommand> {
    diesel::insert_into(agent_commands::table)
        .values(new)
        .returning(AgentCommand::as_returning())
        .get_result(conn)
        .await
}

/// The booth's commands, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    limit: i64,
) -> QueryResult<Vec<AgentCommand>> {
    agent_commands::table
        .filter(agent_commands::photomaton_id.eq(id))
        .order(agent_commands::created_at.desc())
        .limit(limit)
        .select(AgentCommand::as_select())
        .load(conn)
        .await
}

/// What the agents of `ids` still have to run (queued or sent, not expired), oldest first.
pub async fn open_for(
    conn: &mut AsyncPgConnection,
    ids: &[PhotomatonId],
) -> QueryResult<Vec<(PhotomatonId, QueuedCommand)>> {
    let rows: Vec<AgentCommand> = agent_commands::table
        .filter(agent_commands::photomaton_id.eq_any(ids))
        .filter(agent_commands::status.eq_any(["queued", "sent"]))
        .filter(agent_commands::expires_at.gt(Utc::now()))
        // Ties broken by id: the registry compares what one query and another give.
        .order((agent_commands::created_at.asc(), agent_commands::id.asc()))
        .select(AgentCommand::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            (
                c.photomaton_id,
                QueuedCommand {
                    id: c.id,
                    command: c.command,
                    expires_at: c.expires_at,
                },
            )
        })
        .collect())
}

/// Records what the agent reported; `None` when it changes nothing (no such command for this
/// booth, or the command is already past that status).
pub async fn report(
    conn: &mut AsyncPgConnection,
    photomaton: PhotomatonId,
    id: uuid::Uuid,
    new_status: CommandStatus,
    output: Option<String>,
    exit_code: Option<i32>,
) -> QueryResult<Option<AgentCommand>> {
    let target = agent_commands::table
        .filter(agent_commands::id.eq(id))
        .filter(agent_commands::photomaton_id.eq(photomaton));
    let output = output.map(|mut text| {
        truncate_output(&mut text, MAX_COMMAND_OUTPUT);
        text
    });
    let now = Utc::now();
    match new_status {
        CommandStatus::Sent => diesel::update(target.filter(agent_commands::status.eq("queued")))
            .set((
                agent_commands::status.eq("sent"),
                agent_commands::sent_at.eq(Some(now)),
            ))
            .returning(AgentCommand::as_returning())
            .get_result(conn)
            .await
            .optional(),
        // An expired command's real outcome still wins: the agent took it at the last moment.
        CommandStatus::Succeeded | CommandStatus::Failed => diesel::update(
            target.filter(agent_commands::status.eq_any(["queued", "sent", "expired"])),
        )
        .set((
            agent_commands::status.eq(new_status.as_str()),
            agent_commands::output.eq(output),
            agent_commands::exit_code.eq(exit_code),
            agent_commands::finished_at.eq(Some(now)),
        ))
        .returning(AgentCommand::as_returning())
        .get_result(conn)
        .await
        .optional(),
        // Only the gateway expires commands; an agent cannot queue one.
        CommandStatus::Queued | CommandStatus::Expired => Ok(None),
    }
}

/// How long a command the agent took may run before its report is given up on: the agent's
/// own limit (5 minutes) and room for a slow link.
pub const SENT_GRACE: chrono::Duration = chrono::Duration::minutes(15);

/// Expires the commands nobody took before their time, and those taken but never reported
/// within [`SENT_GRACE`]; the commands expired.
pub async fn expire_due(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AgentCommand>> {
    let now = Utc::now();
    diesel::update(
        agent_commands::table.filter(
            agent_commands::status
                .eq("queued")
                .and(agent_commands::expires_at.le(now))
                .or(agent_commands::status
                    .eq("sent")
                    .and(agent_commands::sent_at.le(now - SENT_GRACE))),
        ),
    )
    .set((
        agent_commands::status.eq("expired"),
        agent_commands::finished_at.eq(Some(Utc::now())),
    ))
    .returning(AgentCommand::as_returning())
    .get_results(conn)
    .await
}
