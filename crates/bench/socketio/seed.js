// The seed's path, measured beside LE BOOM's: what the company's first design ran when a booth
// agent synced (its "Agent Sync" flow), rebuilt on the same stack (Node.js, PostgreSQL,
// Socket.IO):
//
//   POST /api/agent/sync → validate the API key and the booth → one transaction (the booth's
//   paper and last seen, the photos batch, the speed test) → Socket.IO broadcast
//   "photomaton:updated" → 200
//
// The first design went through Prisma; this goes through node-postgres (`pg`) with the SQL
// Prisma issues for it (an update, one multi-row INSERT for `createMany`, in one transaction,
// a pool of 10 connections as the design said). Without the ORM's own cost this reference is,
// if anything, faster than the seed was.
//
//   node seed.js PORT
//
// Environment: DATABASE_URL (PostgreSQL), SEED_SCHEMA (created afresh, tables as the first
// design's data model had them). Each line `booth HOSTNAME KEY` on standard input registers a
// booth with its agent key and an event under way, and is answered `booth ID`. Prints
// `listening` once it accepts requests; exits when its standard input closes.
'use strict';
const http = require('http');
const readline = require('readline');
const { Pool } = require('pg');
const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const schema = process.env.SEED_SCHEMA;
if (!/^[a-z_][a-z0-9_]*$/.test(schema || '')) throw new Error('SEED_SCHEMA: a lowercase identifier');
const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 10,
  options: `-c search_path=${schema}`,
});

const SCHEMA_SQL = `
  DROP SCHEMA IF EXISTS ${schema} CASCADE;
  CREATE SCHEMA ${schema};
  SET search_path = ${schema};
  CREATE TYPE media_type AS ENUM ('SESSION', 'PHOTO', 'PRINT', 'DIGITAL', 'GIF');
  CREATE TABLE photomatons (
    id serial PRIMARY KEY, name text NOT NULL, hostname text NOT NULL UNIQUE, api_key text UNIQUE,
    paper_level integer, last_seen timestamptz, updated_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE events (
    id serial PRIMARY KEY, photomaton_id integer REFERENCES photomatons (id), status text NOT NULL,
    total_photos integer NOT NULL DEFAULT 0);
  CREATE TABLE photos (
    id serial PRIMARY KEY, event_id integer NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    media_type media_type NOT NULL, "timestamp" timestamptz NOT NULL DEFAULT now(), metadata jsonb);
  CREATE INDEX photos_event_id_timestamp_idx ON photos (event_id, "timestamp");
  CREATE TABLE speed_tests (
    id serial PRIMARY KEY, photomaton_id integer NOT NULL REFERENCES photomatons (id),
    download double precision, upload double precision, ping double precision,
    created_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX speed_tests_photomaton_id_created_at_idx ON speed_tests (photomaton_id, created_at);
`;

const TYPES = { session: 'SESSION', photo: 'PHOTO', print: 'PRINT', digital: 'DIGITAL', gif: 'GIF' };

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function sync(req, res, body) {
  let batch;
  try {
    batch = JSON.parse(body);
  } catch {
    return reply(res, 400, { error: 'invalid JSON' });
  }
  const key = (req.headers.authorization || '').replace(/^Bearer /, '');
  const found = await pool.query(
    'SELECT p.id, e.id AS event_id FROM photomatons p LEFT JOIN events e ON e.photomaton_id = p.id AND e.status = $2 WHERE p.api_key = $1',
    [key, 'ACTIVE'],
  );
  if (found.rowCount === 0) return reply(res, 401, { error: 'unknown key' });
  const { id, event_id: eventId } = found.rows[0];
  const stats = Array.isArray(batch.stats) ? batch.stats : [];
  const client = await pool.connect();
  let booth;
  try {
    await client.query('BEGIN');
    booth = (await client.query(
      'UPDATE photomatons SET paper_level = COALESCE($2, paper_level), last_seen = now(), updated_at = now() WHERE id = $1 RETURNING *',
      [id, batch.paperLevel ?? null],
    )).rows[0];
    if (eventId !== null && stats.length > 0) {
      const values = [];
      const params = [];
      for (const line of stats) {
        for (let n = 0; n < (line.count || 1); n += 1) {
          params.push(eventId, TYPES[line.type] || 'PHOTO', line.timestamp);
          const k = params.length;
          values.push(`($${k - 2}, $${k - 1}, $${k})`);
        }
      }
      await client.query(`INSERT INTO photos (event_id, media_type, "timestamp") VALUES ${values.join(', ')}`, params);
    }
    if (batch.speedtest) {
      const { download, upload, ping } = batch.speedtest;
      await client.query('INSERT INTO speed_tests (photomaton_id, download, upload, ping) VALUES ($1, $2, $3, $4)', [id, download, upload, ping]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    return reply(res, 500, { error: error.message });
  } finally {
    client.release();
  }
  io.emit('photomaton:updated', { ...booth, agentBacklog: batch.backlog ?? null });
  return reply(res, 200, { ok: true });
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/agent/sync') return reply(res, 404, { error: 'not found' });
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    sync(req, res, Buffer.concat(chunks).toString('utf8')).catch((error) => reply(res, 500, { error: error.message }));
  });
});
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false });

async function main() {
  const setup = new Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  await setup.query(SCHEMA_SQL);
  await setup.end();
  const input = readline.createInterface({ input: process.stdin });
  input.on('close', () => process.exit(0));
  input.on('line', async (line) => {
    const [word, hostname, key] = line.trim().split(/\s+/);
    if (word !== 'booth') return;
    const booth = await pool.query('INSERT INTO photomatons (name, hostname, api_key) VALUES ($1, $1, $2) RETURNING id', [hostname, key]);
    await pool.query('INSERT INTO events (photomaton_id, status) VALUES ($1, $2)', [booth.rows[0].id, 'ACTIVE']);
    console.log(`booth ${booth.rows[0].id}`);
  });
  server.listen(port, '127.0.0.1', () => console.log('listening'));
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
