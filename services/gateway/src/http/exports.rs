//! An event's figures for the client and for invoicing: `GET /api/events/{id}/export.csv` (one
//! row per hour and booth: `hour,booth,sessions,photos,prints,digital,gifs`, UTF-8, a header
//! row), `export.xlsx` (the same sheet and a totals sheet) and `report` (a printable HTML page,
//! French first, with the company's name, the event's totals, its hours and its booths).
//!
//! Hours are written in Paris time with their offset (`2026-06-13T21:00:00+02:00`): what the
//! client lived, and still unambiguous on the night the clocks change.

use actix_web::{HttpResponse, web};
use boom_contracts::{EventId, paris};
use boom_server::ApiError;
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Format, Workbook};

use crate::errors::OrApi;
use crate::state::AppState;
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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;max-width:900px;margin:2rem auto;padding:0 1rem}}
header{{display:flex;justify-content:space-between;align-items:baseline;border-bottom:3px solid #5b3cc4;padding-bottom:.5rem}}
.brand{{font-weight:800;letter-spacing:.08em;color:#5b3cc4}} h1{{margin:.8rem 0 .2rem}} .muted{{color:#6b6b70}}
.kpis{{display:grid;grid-template-columns:repeat(5,1fr);gap:.6rem;margin:1.2rem 0}} .kpis div{{border:1px solid #e3e3e0;border-radius:10px;padding:.6rem;text-align:center}}
.kpis b{{display:block;font-size:1.6rem}} table{{width:100%;border-collapse:collapse;margin:.6rem 0 1.4rem}} th,td{{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e3e3e0;font-size:.9rem}}
td.n,th.n{{text-align:right}} td.bar{{width:30%}} td.bar span{{display:block;height:.7rem;background:#5b3cc4;border-radius:3px;print-color-adjust:exact;-webkit-print-color-adjust:exact}}
@media print{{body{{margin:0}} a{{color:inherit;text-decoration:none}} tr{{break-inside:avoid}}}}
</style>
<header><span class="brand">LE BOOM</span><span class="muted">Bilan de votre événement</span></header>
<h1 data-client>{client}</h1><p class="muted">{kind}{date}</p>
<section class="kpis" data-totals>
<div><b>{s}</b>sessions</div><div><b>{p}</b>photos</div><div><b>{pr}</b>impressions</div><div><b>{d}</b>partages</div><div><b>{g}</b>GIF</div></section>
<h2>Heure par heure</h2><table data-hours><tr><th>Heure (Paris)</th><th class=n>Sessions</th><th class=n>Photos</th><th class=n>Impressions</th><th class=n>Partages et GIF</th><th></th></tr>{hours}</table>
<h2>Par photomaton</h2><table data-booths><tr><th>Photomaton</th><th class=n>Sessions</th><th class=n>Photos</th><th class=n>Impressions</th><th class=n>Partages</th><th class=n>GIF</th></tr>{booths}</table>
<p class="muted">Merci d’avoir choisi LE BOOM. Chiffres arrêtés au {now}.</p></html>"#,
        client = escape(&event.client_name),
        s = t.sessions,
        p = t.photos,
        pr = t.prints,
        d = t.digital,
        g = t.gifs,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
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
