//! Persistence, per aggregate: the queries and the read models built from them. Functions
//! take a connection and return Diesel's `QueryResult`; the caller (an HTTP handler, a bus
//! consumer) decides what a failure means for it. Nothing here knows HTTP, NATS or browsers.

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod batches;
pub(crate) mod commands;
pub(crate) mod dead_letters;
pub(crate) mod event_figures;
pub(crate) mod events;
pub(crate) mod notifications;
pub(crate) mod paper;
pub(crate) mod photomatons;
pub(crate) mod refused_lines;
pub(crate) mod speed_tests;
pub(crate) mod totals;
pub(crate) mod users;
