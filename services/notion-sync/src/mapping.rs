//! From a Notion page to an event: which property holds what is configuration
//! (`notion.properties.*`), and every property type that can hold each value is read.

use boom_config::NotionProperties;
use boom_contracts::paris::Planned;
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use notion_client::objects::page::{FormulaPropertyValue, Page, PageProperty};
use notion_client::objects::property::DateOrDateTime;
use notion_client::objects::rich_text::RichText;

/// How a page names its booth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoothRef {
    /// A select, text or formula: matched against the booth's name or hostname.
    Text(String),
    /// A relation to a page (of a "Photomatons" database) whose title is the booth's name.
    Page(String),
}

/// The event a page describes.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedPage {
    pub client_name: String,
    pub event_type: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
    /// The date as planned (a day or a moment) and its end, for the event's window.
    pub planned: Option<(Planned, Option<Planned>)>,
    pub album_name: Option<String>,
    pub status: Option<String>,
    pub booth: Vec<BoothRef>,
}

fn planned(value: &DateOrDateTime) -> Planned {
    match value {
        DateOrDateTime::DateTime(at) => Planned::Moment(*at),
        DateOrDateTime::Date(day) => Planned::Day(*day),
    }
}

/// The start and end a date property plans (a day, or a moment).
pub fn plan_of(property: &PageProperty) -> Option<(Planned, Option<Planned>)> {
    let date = match property {
        PageProperty::Date { date, .. } => date.as_ref()?,
        PageProperty::Formula {
            formula: Some(FormulaPropertyValue::Date { date }),
            ..
        } => date.as_ref()?,
        other => return date_of(other).map(|at| (Planned::Moment(at), None)),
    };
    Some((
        planned(date.start.as_ref()?),
        date.end.as_ref().map(planned),
    ))
}

fn rich(texts: &[RichText]) -> Option<String> {
    let text: String = texts.iter().filter_map(RichText::plain_text).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn date_value(value: &DateOrDateTime) -> DateTime<Utc> {
    match value {
        DateOrDateTime::DateTime(at) => *at,
        DateOrDateTime::Date(day) => Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)),
    }
}

/// The text a property holds, whatever its type.
pub fn text_of(property: &PageProperty) -> Option<String> {
    match property {
        PageProperty::Title { title, .. } => rich(title),
        PageProperty::RichText { rich_text, .. } => rich(rich_text),
        PageProperty::Select { select, .. } | PageProperty::Status { status: select, .. } => select
            .as_ref()
            .and_then(|s| s.name.as_deref())
            .and_then(non_empty),
        PageProperty::MultiSelect { multi_select, .. } => {
            let names: Vec<&str> = multi_select
                .iter()
                .filter_map(|s| s.name.as_deref())
                .collect();
            non_empty(&names.join(", "))
        }
        PageProperty::Formula { formula, .. } => match formula.as_ref()? {
            FormulaPropertyValue::String { string } => string.as_deref().and_then(non_empty),
            FormulaPropertyValue::Number { number } => number.as_ref().map(ToString::to_string),
            FormulaPropertyValue::Boolean { boolean } => Some(boolean.to_string()),
            FormulaPropertyValue::Date { date } => date
                .as_ref()?
                .start
                .as_ref()
                .map(|d| date_value(d).to_rfc3339()),
        },
        PageProperty::Url { url, .. } => url.as_deref().and_then(non_empty),
        PageProperty::Email { email, .. } => email.as_deref().and_then(non_empty),
        PageProperty::PhoneNumber { phone_number, .. } => {
            phone_number.as_deref().and_then(non_empty)
        }
        PageProperty::Number { number, .. } => number.as_ref().map(ToString::to_string),
        _ => None,
    }
}

/// The date a property holds (a day alone is midnight UTC).
pub fn date_of(property: &PageProperty) -> Option<DateTime<Utc>> {
    match property {
        PageProperty::Date { date, .. } => date.as_ref()?.start.as_ref().map(date_value),
        PageProperty::Formula {
            formula: Some(FormulaPropertyValue::Date { date }),
            ..
        } => date.as_ref()?.start.as_ref().map(date_value),
        PageProperty::CreatedTime { created_time, .. } => Some(*created_time),
        PageProperty::LastEditedTime {
            last_edited_time, ..
        } => *last_edited_time,
        other => text_of(other)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|d| d.to_utc()),
    }
}

/// How the property names the booth.
pub fn booth_of(property: &PageProperty) -> Vec<BoothRef> {
    match property {
        PageProperty::Relation { relation, .. } => relation
            .iter()
            .map(|r| BoothRef::Page(r.id.clone()))
            .collect(),
        PageProperty::MultiSelect { multi_select, .. } => multi_select
            .iter()
            .filter_map(|s| s.name.as_deref().and_then(non_empty))
            .map(BoothRef::Text)
            .collect(),
        other => text_of(other).map(BoothRef::Text).into_iter().collect(),
    }
}

/// The title of a page (for relations: the related booth page's name).
pub fn title_of(page: &Page) -> Option<String> {
    page.properties.values().find_map(|p| match p {
        PageProperty::Title { title, .. } => rich(title),
        _ => None,
    })
}

/// Maps a page with the configured property names. A page without a client name is named
/// after its title, then "(sans nom)", rather than dropped.
pub fn map_page(page: &Page, names: &NotionProperties) -> MappedPage {
    let get = |name: &str| page.properties.get(name);
    MappedPage {
        client_name: get(&names.client)
            .and_then(text_of)
            .or_else(|| title_of(page))
            .unwrap_or_else(|| "(sans nom)".to_owned()),
        event_type: get(&names.event_type).and_then(text_of),
        event_date: get(&names.date).and_then(date_of),
        planned: get(&names.date).and_then(plan_of),
        album_name: get(&names.album).and_then(text_of),
        status: get(&names.status).and_then(text_of),
        booth: get(&names.photomaton).map(booth_of).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn property(value: serde_json::Value) -> PageProperty {
        serde_json::from_value(value).unwrap_or(PageProperty::Button { id: None })
    }

    fn text(content: &str) -> serde_json::Value {
        json!([{"type": "text", "text": {"content": content, "link": null}, "annotations": {"bold": false, "italic": false,
            "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": content, "href": null}])
    }

    #[test]
    fn every_type_that_can_hold_text_is_read() {
        let cases = [
            (
                json!({"type": "title", "title": text("Mariage Dupont")}),
                "Mariage Dupont",
            ),
            (
                json!({"type": "rich_text", "rich_text": text("album-1")}),
                "album-1",
            ),
            (
                json!({"type": "select", "select": {"name": "Mariage", "color": "red"}}),
                "Mariage",
            ),
            (
                json!({"type": "status", "status": {"name": "En cours", "color": "green"}}),
                "En cours",
            ),
            (
                json!({"type": "multi_select", "multi_select": [{"name": "A", "color": "blue"}, {"name": "B", "color": "gray"}]}),
                "A, B",
            ),
            (
                json!({"type": "formula", "formula": {"type": "string", "string": "BOOM-03"}}),
                "BOOM-03",
            ),
            (
                json!({"type": "formula", "formula": {"type": "number", "number": 42}}),
                "42",
            ),
            (
                json!({"type": "url", "url": "https://example.com"}),
                "https://example.com",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                text_of(&property(value.clone())).as_deref(),
                Some(expected),
                "{value}"
            );
        }
        assert_eq!(
            text_of(&property(json!({"type": "select", "select": null}))),
            None
        );
        assert_eq!(
            text_of(&property(json!({"type": "title", "title": text("   ")}))),
            None
        );
    }

    #[test]
    fn dates_come_from_date_and_formula_properties() {
        let day = property(
            json!({"type": "date", "date": {"start": "2026-06-13", "end": null, "time_zone": null}}),
        );
        assert_eq!(
            date_of(&day).map(|d| d.to_rfc3339()),
            Some("2026-06-13T00:00:00+00:00".to_owned())
        );
        let moment = property(
            json!({"type": "date", "date": {"start": "2026-06-13T18:30:00.000+02:00", "end": null, "time_zone": null}}),
        );
        assert_eq!(
            date_of(&moment).map(|d| d.to_rfc3339()),
            Some("2026-06-13T16:30:00+00:00".to_owned())
        );
        let formula = property(
            json!({"type": "formula", "formula": {"type": "date", "date": {"start": "2026-07-01", "end": null, "time_zone": null}}}),
        );
        assert!(date_of(&formula).is_some());
        assert_eq!(
            date_of(&property(json!({"type": "date", "date": null}))),
            None
        );
    }

    #[test]
    fn a_booth_is_named_by_a_relation_a_select_or_a_text() {
        let relation = property(
            json!({"type": "relation", "relation": [{"id": "page-a"}, {"id": "page-b"}], "has_more": false}),
        );
        assert_eq!(
            booth_of(&relation),
            vec![
                BoothRef::Page("page-a".into()),
                BoothRef::Page("page-b".into())
            ]
        );
        let chosen =
            property(json!({"type": "select", "select": {"name": "BOOM-01", "color": "default"}}));
        assert_eq!(booth_of(&chosen), vec![BoothRef::Text("BOOM-01".into())]);
        let typed = property(json!({"type": "rich_text", "rich_text": text("Booth Alpha")}));
        assert_eq!(booth_of(&typed), vec![BoothRef::Text("Booth Alpha".into())]);
    }
}

/// Property tests: Notion's pages are typed by people; whatever a property holds, mapping a
/// page never panics and always names the event.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn rich(content: &str) -> Value {
        json!([{"type": "text", "text": {"content": content, "link": null}, "annotations": {"bold": false, "italic": false,
            "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": content, "href": null}])
    }

    /// Any of the property types the company might put under a configured name.
    fn property() -> impl Strategy<Value = Value> {
        let text = ".{0,40}";
        let date = prop_oneof![
            Just("2026-06-13".to_owned()),
            Just("2026-06-13T18:30:00.000+02:00".to_owned()),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}",
            ".{0,20}",
        ];
        prop_oneof![
            text.prop_map(|t| json!({"id": "p", "type": "title", "title": rich(&t)})),
            text.prop_map(|t| json!({"id": "p", "type": "rich_text", "rich_text": rich(&t)})),
            text.prop_map(|t| json!({"id": "p", "type": "select", "select": {"id": "o", "name": t, "color": "blue"}})),
            Just(json!({"id": "p", "type": "select", "select": null})),
            text.prop_map(|t| json!({"id": "p", "type": "status", "status": {"id": "o", "name": t, "color": "green"}})),
            prop::collection::vec(text, 0..4).prop_map(|names| json!({"id": "p", "type": "multi_select",
                "multi_select": names.iter().map(|n| json!({"id": "o", "name": n, "color": "gray"})).collect::<Vec<_>>()})),
            date.prop_map(|d| json!({"id": "p", "type": "date", "date": {"start": d, "end": null, "time_zone": null}})),
            Just(json!({"id": "p", "type": "date", "date": null})),
            prop::collection::vec("[a-f0-9-]{1,36}", 0..3).prop_map(|ids| json!({"id": "p", "type": "relation",
                "relation": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(), "has_more": false})),
            any::<f64>().prop_map(|n| json!({"id": "p", "type": "number", "number": n})),
            text.prop_map(|t| json!({"id": "p", "type": "formula", "formula": {"type": "string", "string": t}})),
            Just(json!({"id": "p", "type": "checkbox", "checkbox": true})),
        ]
    }

    fn page(properties: Value) -> Value {
        json!({
            "object": "page", "id": "page-1",
            "created_time": "2026-06-01T10:00:00.000Z", "last_edited_time": "2026-06-02T10:00:00.000Z",
            "created_by": {"object": "user", "id": "user-1"}, "last_edited_by": {"object": "user", "id": "user-1"},
            "cover": null, "icon": null,
            "parent": {"type": "database_id", "database_id": "db-1"},
            "archived": false, "in_trash": false,
            "properties": properties,
            "url": "https://www.notion.so/page1", "public_url": null,
        })
    }

    /// The pages the property test makes are pages Notion's types read (it is not vacuous).
    #[test]
    fn the_generated_pages_are_read_as_pages() {
        let read = serde_json::from_value::<Page>(page(json!({
            "Client": {"id": "p", "type": "title", "title": rich("Gala")},
            "Date": {"id": "p", "type": "date", "date": {"start": "2026-06-13", "end": null, "time_zone": null}},
        })));
        assert!(read.is_ok(), "{read:?}");
    }

    proptest! {
        #[test]
        fn any_page_maps_to_a_named_event(
            properties in prop::collection::btree_map(
                prop::sample::select(vec!["Client", "Type", "Date", "Album", "Statut", "Photomaton", "Autre"]),
                property(),
                0..7,
            ),
        ) {
            let page = page(json!(properties));
            // A page Notion's own types refuse is skipped by the sync (and counted); one they
            // read is mapped.
            if let Ok(page) = serde_json::from_value::<Page>(page) {
                let mapped = map_page(&page, &NotionProperties::default());
                prop_assert!(!mapped.client_name.is_empty());
            }
        }
    }
}
