//! An event's figures for the client and for invoicing: `GET /api/events/{id}/export.csv` (one
//! row per hour and booth: `hour,booth,sessions,photos,prints,digital,gifs`, UTF-8, a header
//! row), `export.xlsx` (the same sheet and a totals sheet) and `report` (a printable HTML page,
//! French first, with the company's name, the event's totals, its hours and its booths).
//!
//! Over a span of dates, for invoicing: `GET /api/events/export.csv?from=…&to=…` (one row per
//! event and booth: `event,client,type,date,status,booth,sessions,photos,prints,digital,gifs`)
//! and `export.xlsx` (the same, with a total row).
//!
//! Hours are written in Paris time with their offset (`2026-06-13T21:00:00+02:00`): what the
//! client lived, and still unambiguous on the night the clocks change.

use actix_web::{HttpResponse, web};
use boom_contracts::{EventId, paris};
use boom_server::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use rust_xlsxwriter::{Format, Workbook};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::errors::OrApi;
use crate::http::escape_html as escape;
use crate::state::AppState;
use crate::store::event_figures::{self, RangeRow};
use crate::store::events::{self, HourlyRow};
use crate::store::totals::Totals;

const COLUMNS: [&str; 7] = [
    "hour", "booth", "sessions", "photos", "prints", "digital", "gifs",
];

fn local(hour: DateTime<Utc>) -> String {
    let offset = paris::offset(hour);
    let seconds = i32::try_from(offset.num_seconds()).unwrap_or(0);
    match chrono::FixedOffset::east_opt(seconds) {
        Some(zone) => hour.with_timezone(&zone).to_rfc3339(),
        None => hour.to_rfc3339(),
    }
}

fn counts(t: &Totals) -> [i64; 5] {
    [t.sessions, t.photos, t.prints, t.digital, t.gifs]
}

/// A CSV field, quoted when it needs to be (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

async fn rows_of(
    state: &AppState,
    id: i32,
) -> Result<(crate::store::events::EventView, Vec<HourlyRow>), ApiError> {
    let id = EventId(id);
    let mut conn = state.conn().await?;
    let Some(event) = events::view(&mut conn, id).await.or_api()? else {
        return Err(ApiError::not_found(format!("no event {id}")));
    };
    let rows = events::hourly_rows(&mut conn, id).await.or_api()?;
    Ok((event, rows))
}

fn file_name(event: &crate::store::events::EventView, extension: &str) -> String {
    let slug: String = event
        .client_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    format!("evenement-{}-{slug}.{extension}", event.id)
}

pub async fn csv(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let (event, rows) = rows_of(&state, *id).await?;
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for row in &rows {
        let [s, p, pr, d, g] = counts(&row.totals);
        out.push_str(&format!(
            "{},{},{s},{p},{pr},{d},{g}\r\n",
            local(row.hour),
            field(&row.booth)
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", file_name(&event, "csv")),
        ))
        .body(out))
}

fn workbook(
    event: &crate::store::events::EventView,
    rows: &[HourlyRow],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let hours = book.add_worksheet().set_name("Par heure")?;
    for (c, name) in (0u16..).zip(COLUMNS) {
        hours.write_string_with_format(0, c, name, &bold)?;
    }
    for (r, row) in (1u32..).zip(rows) {
        hours.write_string(r, 0, local(row.hour))?;
        hours.write_string(r, 1, &row.booth)?;
        for (c, n) in (2u16..).zip(counts(&row.totals)) {
            // Exact as a spreadsheet number up to 2^53; an event's counts stay far below.
            #[allow(clippy::cast_precision_loss)]
            hours.write_number(r, c, n as f64)?;
        }
    }
    hours.set_column_width(0, 28)?;
    hours.set_column_width(1, 22)?;
    let totals = book.add_worksheet().set_name("Totaux")?;
    totals.write_string_with_format(0, 0, "booth", &bold)?;
    for (c, name) in (1u16..).zip(&COLUMNS[2..]) {
        totals.write_string_with_format(0, c, *name, &bold)?;
    }
    let mut per_booth: std::collections::BTreeMap<&str, Totals> = Default::default();
    for row in rows {
        per_booth.entry(&row.booth).or_default().merge(&row.totals);
    }
    let mut r = 1u32;
    for (booth, t) in &per_booth {
        totals.write_string(r, 0, *booth)?;
        for (c, n) in (1u16..).zip(counts(t)) {
            #[allow(clippy::cast_precision_loss)]
            totals.write_number(r, c, n as f64)?;
        }
        r += 1;
    }
    totals.write_string_with_format(r, 0, format!("total — {}", event.client_name), &bold)?;
    for (c, n) in (1u16..).zip(counts(&event.totals)) {
        #[allow(clippy::cast_precision_loss)]
        totals.write_number_with_format(r, c, n as f64, &bold)?;
    }
    totals.set_column_width(0, 30)?;
    book.save_to_buffer()
}

pub async fn xlsx(
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let (event, rows) = rows_of(&state, *id).await?;
    let bytes = workbook(&event, &rows).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", file_name(&event, "xlsx")),
        ))
        .body(bytes))
}

const RANGE_COLUMNS: [&str; 11] = [
    "event", "client", "type", "date", "status", "booth", "sessions", "photos", "prints",
    "digital", "gifs",
];

/// The longest span one export covers: a year and a day.
const MAX_RANGE_DAYS: i64 = 366;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RangeQuery {
    /// The first Paris day (YYYY-MM-DD).
    pub from: NaiveDate,
    /// The last Paris day, included (YYYY-MM-DD).
    pub to: NaiveDate,
}

async fn range_of(state: &AppState, query: &RangeQuery) -> Result<Vec<RangeRow>, ApiError> {
    crate::http::events::check_dates(Some(query.from), Some(query.to))?;
    if (query.to - query.from).num_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_RANGE_DAYS} days per export"
        )));
    }
    let mut conn = state.conn().await?;
    event_figures::range_rows(&mut conn, query.from, query.to)
        .await
        .or_api()
}

/// A range row's text fields: event id, client, type, Paris date, status, booth.
fn range_fields(row: &RangeRow) -> [String; 6] {
    [
        row.event_id.0.to_string(),
        row.client_name.clone(),
        row.event_type.clone().unwrap_or_default(),
        row.event_date
            .map(|d| paris::day_of(d).to_string())
            .unwrap_or_default(),
        row.status.to_string(),
        row.booth.clone(),
    ]
}

fn range_name(query: &RangeQuery, extension: &str) -> String {
    format!("evenements-{}-{}.{extension}", query.from, query.to)
}

pub async fn range_csv(
    state: web::Data<AppState>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let rows = range_of(&state, &query).await?;
    let mut out = RANGE_COLUMNS.join(",");
    out.push_str("\r\n");
    for row in &rows {
        let text: Vec<String> = range_fields(row).iter().map(|f| field(f)).collect();
        let numbers: Vec<String> = counts(&row.totals).iter().map(i64::to_string).collect();
        out.push_str(&text.join(","));
        out.push(',');
        out.push_str(&numbers.join(","));
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", range_name(&query, "csv")),
        ))
        .body(out))
}

fn range_workbook(rows: &[RangeRow]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("Événements")?;
    for (c, name) in (0u16..).zip(RANGE_COLUMNS) {
        sheet.write_string_with_format(0, c, name, &bold)?;
    }
    let mut total = Totals::default();
    let mut r = 1u32;
    for row in rows {
        let fields = range_fields(row);
        sheet.write_number(r, 0, f64::from(row.event_id.0))?;
        for (c, text) in (1u16..).zip(&fields[1..]) {
            sheet.write_string(r, c, text)?;
        }
        for (c, n) in (6u16..).zip(counts(&row.totals)) {
            #[allow(clippy::cast_precision_loss)]
            sheet.write_number(r, c, n as f64)?;
        }
        total.merge(&row.totals);
        r += 1;
    }
    sheet.write_string_with_format(r, 1, "total", &bold)?;
    for (c, n) in (6u16..).zip(counts(&total)) {
        #[allow(clippy::cast_precision_loss)]
        sheet.write_number_with_format(r, c, n as f64, &bold)?;
    }
    sheet.set_column_width(1, 30)?;
    sheet.set_column_width(2, 16)?;
    sheet.set_column_width(3, 12)?;
    sheet.set_column_width(5, 22)?;
    book.save_to_buffer()
}

pub async fn range_xlsx(
    state: web::Data<AppState>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let rows = range_of(&state, &query).await?;
    let bytes = range_workbook(&rows).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", range_name(&query, "xlsx")),
        ))
        .body(bytes))
}

/// The chart's figures, as JSON inside the page (`</` escaped so that no text closes the
/// script element); drawn by `/report.js`, which the page's policy allows where an inline
/// script would not be.
fn report_data(by_hour: &std::collections::BTreeMap<DateTime<Utc>, Totals>) -> String {
    let timeline: Vec<serde_json::Value> = by_hour
        .iter()
        .map(|(hour, totals)| serde_json::json!({"hour": hour, "totals": totals}))
        .collect();
    serde_json::json!({"timeline": timeline})
        .to_string()
        .replace("</", "<\\/")
}

/// The client's report: one printable page, French.
pub async fn report(
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let (event, rows) = rows_of(&state, *id).await?;
    let t = &event.totals;
    let mut by_hour: std::collections::BTreeMap<DateTime<Utc>, Totals> = Default::default();
    let mut per_booth: std::collections::BTreeMap<&str, Totals> = Default::default();
    for row in &rows {
        by_hour.entry(row.hour).or_default().merge(&row.totals);
        per_booth.entry(&row.booth).or_default().merge(&row.totals);
    }
    let peak = by_hour
        .values()
        .map(|h| h.sessions.max(h.prints))
        .max()
        .unwrap_or(1)
        .max(1);
    let hours: String = by_hour
        .iter()
        .map(|(hour, h)| {
            let width = (h.prints.max(h.sessions) * 100) / peak;
            format!(
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=bar><span style=\"width:{width}%\"></span></td></tr>",
                paris::clock(*hour),
                h.sessions,
                h.photos,
                h.prints,
                h.digital + h.gifs
            )
        })
        .collect();
    let booths: String = per_booth
        .iter()
        .map(|(booth, b)| {
            format!(
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                escape(booth), b.sessions, b.photos, b.prints, b.digital, b.gifs
            )
        })
        .collect();
    let date = event
        .event_date
        .map(|d| paris::day_of(d).format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    let kind = event
        .event_type
        .as_deref()
        .map(|k| format!("{} · ", escape(k)))
        .unwrap_or_default();
    let now = format!(
        "{} à {}",
        paris::day_of(Utc::now()).format("%d/%m/%Y"),
        paris::clock(Utc::now())
    );
    let html = format!(
        r#"<!doctype html><html lang="fr"><meta charset="utf-8"><title>Bilan — {client}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script type="module" src="/report.js"></script>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;max-width:900px;margin:2rem auto;padding:0 1rem}}
header{{display:flex;justify-content:space-between;align-items:baseline;border-bottom:3px solid #5b3cc4;padding-bottom:.5rem}}
.brand{{font-weight:800;letter-spacing:.08em;color:#5b3cc4}} h1{{margin:.8rem 0 .2rem}} .muted{{color:#6b6b70}}
.kpis{{display:grid;grid-template-columns:repeat(5,1fr);gap:.6rem;margin:1.2rem 0}} .kpis div{{border:1px solid #e3e3e0;border-radius:10px;padding:.6rem;text-align:center}}
.kpis b{{display:block;font-size:1.6rem}} table{{width:100%;border-collapse:collapse;margin:.6rem 0 1.4rem}} th,td{{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e3e3e0;font-size:.9rem}}
td.n,th.n{{text-align:right}} td.bar{{width:30%}} td.bar span{{display:block;height:.7rem;background:#5b3cc4;border-radius:3px;print-color-adjust:exact;-webkit-print-color-adjust:exact}}
.chart{{margin:.6rem 0 1rem;color:#1d1d1f}} .chart-tip{{position:absolute;z-index:5;pointer-events:none;background:#fff;border:1px solid #e3e3e0;border-radius:6px;padding:.3rem .5rem;font-size:.8rem;white-space:nowrap;box-shadow:0 2px 8px rgba(0,0,0,.12)}}
@media print{{body{{margin:0}} .chart-tip{{display:none}} a{{color:inherit;text-decoration:none}} tr{{break-inside:avoid}}}}
</style>
<header><span class="brand">LE BOOM</span><span class="muted">Bilan de votre événement</span></header>
<h1 data-client>{client}</h1><p class="muted">{kind}{date}</p>
<section class="kpis" data-totals>
<div><b>{s}</b>sessions</div><div><b>{p}</b>photos</div><div><b>{pr}</b>impressions</div><div><b>{d}</b>partages</div><div><b>{g}</b>GIF</div></section>
<h2>Heure par heure</h2><div id="timeline" class="chart"></div><script type="application/json" id="report-data">{data}</script><table data-hours><tr><th>Heure (Paris)</th><th class=n>Sessions</th><th class=n>Photos</th><th class=n>Impressions</th><th class=n>Partages et GIF</th><th></th></tr>{hours}</table>
<h2>Par photomaton</h2><table data-booths><tr><th>Photomaton</th><th class=n>Sessions</th><th class=n>Photos</th><th class=n>Impressions</th><th class=n>Partages</th><th class=n>GIF</th></tr>{booths}</table>
<p class="muted">Merci d’avoir choisi LE BOOM. Chiffres arrêtés au {now}.</p></html>"#,
        client = escape(&event.client_name),
        data = report_data(&by_hour),
        s = t.sessions,
        p = t.photos,
        pr = t.prints,
        d = t.digital,
        g = t.gifs,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_paris_hours() {
        assert_eq!(field("Booth, \"Alpha\""), "\"Booth, \"\"Alpha\"\"\"");
        assert_eq!(field("plain"), "plain");
        let summer = DateTime::parse_from_rfc3339("2026-06-13T19:00:00Z")
            .map(|d| d.to_utc())
            .unwrap_or_default();
        assert_eq!(local(summer), "2026-06-13T21:00:00+02:00");
    }
}
