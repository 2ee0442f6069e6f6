//! Integration tests of LE BOOM: one binary, real PostgreSQL, NATS and Redis, each test in
//! its own database, NATS prefix and Redis prefix (see `boom-testkit`).

mod binaries;
mod bus;
mod database;
mod health;
mod helpers;
mod migrations;
