//! The catalogue of the bus, from which `proto/` is generated: one JSON Schema per message
//! and an AsyncAPI document naming every subject, stream, consumer and KV bucket.
//!
//! Subjects are written with `{prefix}` standing for `BOOM__NATS__PREFIX`.

use schemars::{JsonSchema, schema_for};
use serde_json::{Value, json};

use crate::messages::*;
use crate::{Namespace, StreamKind};

/// One message type of the catalogue.
#[derive(Debug, Clone)]
pub struct CatalogueEntry {
    pub name: &'static str,
    pub subject: &'static str,
    pub delivery: Delivery,
    pub summary: &'static str,
    pub queue_group: Option<&'static str>,
    pub schema: Value,
}

fn entry<T: BusMessage>(name: &'static str, queue_group: Option<&'static str>) -> CatalogueEntry {
    CatalogueEntry {
        name,
        subject: T::SUBJECT,
        delivery: T::DELIVERY,
        summary: T::SUMMARY,
        queue_group,
        schema: schema_value::<T>(),
    }
}

fn schema_value<T: JsonSchema>() -> Value {
    serde_json::to_value(schema_for!(T)).unwrap_or(Value::Null)
}

/// Every message that crosses NATS.
pub fn messages() -> Vec<CatalogueEntry> {
    vec![
        entry::<AgentBatchAccepted>("AgentBatchAccepted", None),
        entry::<AgentCommandReported>("AgentCommandReported", None),
        entry::<AgentSeen>("AgentSeen", None),
        entry::<EventUpserted>("EventUpserted", None),
        entry::<NotionSyncCompleted>("NotionSyncCompleted", None),
        entry::<NotionSyncRequest>("NotionSyncRequest", Some(NotionSyncRequest::QUEUE_GROUP)),
        entry::<NotionSyncSummary>("NotionSyncSummary", None),
        entry::<ControlRequest>("ControlRequest", Some(ControlRequest::QUEUE_GROUP)),
        entry::<ControlReply>("ControlReply", None),
        entry::<PhotomatonProbed>("PhotomatonProbed", None),
        entry::<PhotomatonActionProgress>("PhotomatonActionProgress", None),
        entry::<PairingRequest>("PairingRequest", Some(PairingRequest::QUEUE_GROUP)),
        entry::<PairingReply>("PairingReply", None),
        entry::<AlertChanged>("AlertChanged", None),
        entry::<AlertAcknowledged>("AlertAcknowledged", None),
        entry::<DeliveryQueued>("DeliveryQueued", None),
        entry::<DeliveryUpdated>("DeliveryUpdated", None),
        entry::<RecipientsRequest>("RecipientsRequest", Some(RecipientsRequest::QUEUE_GROUP)),
        entry::<Recipients>("Recipients", None),
        entry::<FleetRequest>("FleetRequest", Some(FleetRequest::QUEUE_GROUP)),
        entry::<FleetPage>("FleetPage", None),
        entry::<ChannelTestRequest>("ChannelTestRequest", Some(ChannelTestRequest::QUEUE_GROUP)),
        entry::<ChannelTestReply>("ChannelTestReply", None),
        entry::<NotionSyncOutcome>("NotionSyncOutcome", None),
        entry::<LiveUpdate>("LiveUpdate", None),
    ]
}

/// The durable consumer that reads a stream message: the gateway's, except for what the
/// notifier reads (its deliveries and the acknowledgements).
fn consumer_of(name: &str, kind: StreamKind) -> &'static str {
    match name {
        "DeliveryQueued" => crate::namespace::NOTIFIER_DELIVERIES,
        "AlertAcknowledged" => crate::namespace::NOTIFIER_ACKS,
        "DeliveryUpdated" => crate::namespace::GATEWAY_DELIVERIES,
        _ => kind.gateway_consumer(),
    }
}

fn message_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/messages/{name}") })
}

/// The AsyncAPI 2.6 document of the bus.
pub fn asyncapi() -> Value {
    let ns = Namespace::new("prefix").unwrap_or_default();
    let mut channels = serde_json::Map::new();
    let mut messages_doc = serde_json::Map::new();
    for m in messages() {
        messages_doc.insert(
            m.name.to_owned(),
            json!({
                "name": m.name,
                "summary": m.summary,
                "contentType": "application/json",
                "payload": { "$ref": format!("schemas/{}.json", m.name) },
            }),
        );
        if m.delivery == Delivery::Reply {
            continue; // Replies travel on the requester's inbox, listed with their request.
        }
        let mut channel = json!({
            "description": m.summary,
            "parameters": { "prefix": { "$ref": "#/components/parameters/prefix" } },
            "publish": { "message": message_ref(m.name) },
        });
        match m.delivery {
            Delivery::Stream(kind) => {
                channel["x-jetstream"] = json!({
                    "stream": ns.stream(kind).replace("PREFIX", "{PREFIX}"),
                    "durableConsumer": consumer_of(m.name, kind),
                    "dedupe": "Nats-Msg-Id",
                });
            }
            Delivery::Request => {
                let reply = match m.name {
                    "NotionSyncRequest" => "NotionSyncSummary",
                    "PairingRequest" => "PairingReply",
                    "RecipientsRequest" => "Recipients",
                    "FleetRequest" => "FleetPage",
                    "ChannelTestRequest" => "ChannelTestReply",
                    _ => "ControlReply",
                };
                channel["x-request-reply"] = json!({
                    "queueGroup": m.queue_group,
                    "reply": message_ref(reply),
                });
            }
            Delivery::Broadcast | Delivery::Reply => {}
        }
        channels.insert(format!("{{prefix}}.{}", m.subject), channel);
    }

    let streams: Vec<Value> = StreamKind::ALL
        .iter()
        .map(|&kind| {
            json!({
                "name": format!("{{PREFIX}}_{}", ns.stream(kind).trim_start_matches("PREFIX_")),
                "subjects": format!("{{prefix}}.{}.>", kind.domain()),
                "durableConsumer": kind.gateway_consumer(),
                "consumedBy": "boom-gateway (every instance pulls from the one consumer)",
            })
        })
        .collect();

    json!({
        "asyncapi": "2.6.0",
        "info": {
            "title": "LE BOOM v2 bus",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Generated from crates/contracts by `just proto`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {
            "messages": messages_doc,
            "parameters": {
                "prefix": {
                    "description": "BOOM__NATS__PREFIX: the namespace of one stack (default `boom`).",
                    "schema": { "type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,31}$" },
                },
            },
        },
        "x-streams": streams,
        "x-kv-buckets": [
            {
                "name": "{prefix}_registry",
                "key": "photomaton id",
                "value": { "$ref": "schemas/RegistryEntry.json" },
                "writtenBy": "boom-gateway",
                "readBy": ["boom-stats-ingest", "boom-photomaton-control", "boom-notion-sync"],
            },
            {
                "name": "{prefix}_agent_commands",
                "key": "photomaton id",
                "value": { "$ref": "schemas/AgentCommands.json" },
                "writtenBy": "boom-gateway",
                "readBy": ["boom-stats-ingest"],
            },
            {
                "name": "{prefix}_alerts",
                "key": "`<kind>.<photomaton id or fleet>`",
                "value": "the open alert: id, since when, acknowledged, last notified, pending transition",
                "writtenBy": ["boom-notifier"],
            },
            {
                "name": "{prefix}_deliveries",
                "key": "delivery id",
                "value": "`sent` once a delivery was sent: a redelivered message is not sent again",
                "writtenBy": ["boom-notifier"],
            },
            {
                "name": "{prefix}_leases",
                "key": "the single-active task (probe, notion-sync, notifier)",
                "value": "the holder's instance id; the entry expires with the bucket's max age",
                "writtenBy": ["boom-photomaton-control", "boom-notion-sync", "boom-notifier"],
            },
        ],
    })
}

/// Every file of `proto/`, as `(path relative to proto/, content)`.
pub fn generated_files() -> Vec<(String, String)> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let mut files: Vec<(String, String)> = messages()
        .iter()
        .map(|m| (format!("schemas/{}.json", m.name), pretty(&m.schema)))
        .collect();
    files.push((
        "schemas/RegistryEntry.json".to_owned(),
        pretty(&schema_value::<RegistryEntry>()),
    ));
    files.push((
        "schemas/AgentCommands.json".to_owned(),
        pretty(&schema_value::<crate::agent::AgentCommands>()),
    ));
    files.push(("asyncapi.json".to_owned(), pretty(&asyncapi())));
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// `proto/` is generated from this crate. Run `just proto` (which sets
    /// `BOOM_UPDATE_PROTO=1`) after changing a message, and commit the result.
    #[test]
    fn proto_directory_matches_the_code() -> std::io::Result<()> {
        let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
        let update = std::env::var_os("BOOM_UPDATE_PROTO").is_some();
        let mut stale = Vec::new();
        for (path, content) in generated_files() {
            let file = proto.join(&path);
            if update {
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&file, &content)?;
            } else if std::fs::read_to_string(&file).ok().as_deref() != Some(content.as_str()) {
                stale.push(path);
            }
        }
        assert!(
            stale.is_empty(),
            "proto/ is out of date ({stale:?}): run `just proto` and commit"
        );
        Ok(())
    }

    #[test]
    fn every_message_has_an_object_schema() {
        for m in messages() {
            assert_eq!(m.schema["type"], "object", "{}", m.name);
        }
    }
}
