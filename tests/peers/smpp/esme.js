// An ESME scenario with the real npm `smpp` client (0.5.1) against an SMPP server:
// bind_transceiver, submit_sm with registered_delivery, the message delivered back to this bind
// (the destination is one of the peer's own numbers), its delivery receipt, unbind.
// Usage: node esme.js HOST PORT SYSTEM_ID PASSWORD FROM TO
// Prints one JSON line with what happened; exit 0 when every step succeeded.
'use strict';
const smpp = require('smpp');

const [host, port, systemId, password, from, to] = process.argv.slice(2);
const result = { bound: false, message_id: null, mo_text: null, receipt_id: null,
                 receipt_state: null, receipt_text: null, unbound: false };
const text = 'hello from npm smpp ' + process.pid;
const done = (code, why) => {
  if (why) result.error = why;
  console.log(JSON.stringify(result));
  process.exit(code);
};
setTimeout(() => done(1, 'timeout'), 20000);

const session = smpp.connect({ url: `smpp://${host}:${port}`, auto_enquire_link_period: 10000 });
session.on('error', (e) => done(1, 'socket: ' + e.message));
session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  if (pdu.esm_class & 0x04) {
    result.receipt_id = pdu.receipted_message_id || null;
    result.receipt_state = pdu.message_state;
    result.receipt_text = pdu.short_message && pdu.short_message.message;
    session.unbind((r) => {
      result.unbound = r.command_status === 0;
      session.close();
      const ok = result.bound && result.message_id && result.mo_text === text &&
                 result.receipt_id === result.message_id && result.unbound;
      done(ok ? 0 : 1, ok ? undefined : 'mismatch');
    });
  } else {
    result.mo_text = pdu.short_message && pdu.short_message.message;
  }
});
session.bind_transceiver({ system_id: systemId, password: password }, (pdu) => {
  if (pdu.command_status !== 0) return done(1, 'bind status ' + pdu.command_status);
  result.bound = true;
  session.submit_sm({
    source_addr_ton: 1, source_addr_npi: 1, source_addr: from,
    dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: to,
    registered_delivery: 1, short_message: text,
  }, (r) => {
    if (r.command_status !== 0) return done(1, 'submit status ' + r.command_status);
    result.message_id = r.message_id;
  });
});
