// The clients of the Socket.IO peer: N socket.io-client connections (WebSocket transport, as a
// browser would end up on), each timing every frame from its `sentAt` to its arrival.
//
//   node clients.js URL CLIENTS SECONDS [EVENT FIELD]
//
// EVENT and FIELD name the frames timed and their send time (µs since the epoch):
// `events:updated sentAt` by default (the fan-out scenario); the seed's path sends
// `photomaton:updated agentBacklog` (the agent's POST time, end to end).
//
// Prints `ready` once every client is connected; counts frames until SECONDS + 3 seconds after
// the first one arrives (or 60 s without any), then prints one JSON line:
// {"received": n, "p50": ms, "p99": ms}.
'use strict';
const { io } = require('socket.io-client');

const [url, clients, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const [event, field] = [process.argv[5] || 'events:updated', process.argv[6] || 'sentAt'];
const latencies = new Float32Array(Math.min(clients * 100 * (seconds + 3), 50_000_000));
let received = 0;
let first = null;
let connected = 0;

function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function finish() {
  const sample = latencies.slice(0, Math.min(received, latencies.length)).sort();
  const at = (p) => (sample.length ? sample[Math.min(sample.length - 1, Math.floor(p * sample.length))] : 0);
  console.log(JSON.stringify({ received, p50: at(0.5), p99: at(0.99) }));
  process.exit(0);
}

for (let i = 0; i < clients; i += 1) {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  socket.on('connect', () => {
    connected += 1;
    if (connected === clients) console.log('ready');
  });
  socket.on('connect_error', (error) => {
    console.error(`connect_error: ${error.message}`);
    process.exit(1);
  });
  socket.on(event, (data) => {
    if (first === null) {
      first = Date.now();
      setTimeout(finish, (seconds + 3) * 1000);
    }
    if (received < latencies.length) latencies[received] = (nowMicros() - data[field]) / 1000;
    received += 1;
  });
}
setTimeout(() => { if (first === null) finish(); }, 60_000);
