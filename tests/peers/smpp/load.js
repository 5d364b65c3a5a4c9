// Load from one real npm `smpp` client (0.5.1): a bind_transceiver keeping WINDOW submit_sm
// outstanding for SECONDS; prints {"rate": submit_sm_resp ok per second, "errors": n}.
// Usage: node load.js HOST PORT SYSTEM_ID PASSWORD FROM TO SECONDS [WINDOW]
'use strict';
const smpp = require('smpp');

const [host, port, systemId, password, from, to, secondsArg, windowArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 3);
const window = Number(windowArg || 50);
let outstanding = 0, acked = 0, errors = 0, sending = false, start = 0, n = 0;

const session = smpp.connect({ url: `smpp://${host}:${port}` });
session.on('error', (e) => { console.error('socket: ' + e.message); process.exit(1); });
session.on('deliver_sm', (pdu) => session.send(pdu.response()));
function pump() {
  while (sending && outstanding < window) {
    outstanding++;
    session.submit_sm({
      source_addr_ton: 1, source_addr_npi: 1, source_addr: from,
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: to,
      short_message: 'load test message ' + (n++),
    }, (r) => {
      outstanding--;
      if (r.command_status === 0) acked++; else errors++;
      pump();
    });
  }
}
session.bind_transceiver({ system_id: systemId, password: password }, (pdu) => {
  if (pdu.command_status !== 0) { console.error('bind status ' + pdu.command_status); process.exit(1); }
  start = process.hrtime.bigint();
  sending = true;
  pump();
  setTimeout(() => {
    sending = false;
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    const rate = acked / elapsed;
    const finish = () => {
      if (outstanding > 0) return setTimeout(finish, 10);
      console.log(JSON.stringify({ rate: Math.round(rate), acked, errors }));
      session.close();
      process.exit(errors ? 1 : 0);
    };
    finish();
  }, seconds * 1000);
});
