// The Socket.IO peer of the fan-out benchmark: what the original design ran (a Node.js
// Socket.IO server emitting each update to every connected dashboard). It broadcasts the same
// frames as LE BOOM's gateway and the bare server, at the same rate, once told to start.
//
//   node server.js PORT RATE SECONDS
//
// Prints `listening` once it accepts connections; a line `start` on standard input begins
// RATE broadcasts per second for SECONDS seconds; then it prints `done N` (N broadcasts)
// and stays up, so that its memory can be read, until its standard input closes.
'use strict';
const http = require('http');
const readline = require('readline');
const { Server } = require('socket.io');

const [port, rate, seconds] = process.argv.slice(2).map(Number);
const server = http.createServer();
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false });

function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

server.listen(port, '127.0.0.1', () => console.log('listening'));

const input = readline.createInterface({ input: process.stdin });
input.on('close', () => process.exit(0));
input.on('line', (line) => {
  if (line.trim() !== 'start') return;
  const end = Date.now() + seconds * 1000;
  let emitted = 0;
  const timer = setInterval(() => {
    if (Date.now() >= end) {
      clearInterval(timer);
      console.log(`done ${emitted}`);
      return;
    }
    io.emit('events:updated', { sentAt: nowMicros(), padding: 'booth update' });
    emitted += 1;
  }, 1000 / rate);
});
