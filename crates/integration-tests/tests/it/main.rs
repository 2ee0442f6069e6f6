//! Integration tests of LE BOOM: one binary, real PostgreSQL, NATS and Redis, each test in
//! its own database, NATS prefix and Redis prefix (see `boom-testkit`).

mod agent_windows;
mod alerts;
mod api_fuzz;
mod attribution;
mod backup;
mod benchmarks;
mod binaries;
mod browser;
mod bus;
mod cache;
mod commands;
mod control;
mod database;
mod deploy;
mod fake_notion;
mod gateway_api;
mod gateway_auth;
mod gateway_client;
mod gateway_live;
mod health;
mod helpers;
mod migrations;
mod newer_wins;
mod notifier;
mod notion;
mod pairing;
mod pipeline;
mod printer;
mod registry;
mod sso;
