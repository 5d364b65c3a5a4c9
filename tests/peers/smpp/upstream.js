// An upstream SMSC made of npm `smpp`'s server (0.5.1), for our uplink: accepts a
// bind_transceiver with the given credentials, answers each submit_sm with its own message id
// and, when a receipt was asked for, sends a delivery receipt (esm_class 0x04, with the
// receipted_message_id and message_state TLVs); once bound, it sends one MO deliver_sm.
// Usage: node upstream.js SYSTEM_ID PASSWORD MO_FROM MO_TO MO_TEXT
// Prints {"port": N} when listening, then one JSON line per event.
'use strict';
const smpp = require('smpp');

const [systemId, password, moFrom, moTo, moText] = process.argv.slice(2);
let nextId = 7000;
const say = (o) => console.log(JSON.stringify(o));
const pad = (n) => String(n).padStart(2, '0');
const stamp = (d) => `${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
                     `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;

const server = smpp.createServer({}, (session) => {
  session.on('error', () => {});
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      say({ event: 'bind_refused', system_id: pdu.system_id });
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      return;
    }
    session.send(pdu.response({ system_id: 'npm-upstream' }));
    say({ event: 'bound', system_id: pdu.system_id, interface_version: pdu.interface_version });
    session.deliver_sm({
      source_addr_ton: 1, source_addr_npi: 1, source_addr: moFrom,
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: moTo,
      short_message: moText,
    }, (r) => say({ event: 'mo_answered', status: r.command_status }));
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('submit_sm', (pdu) => {
    const id = String(nextId++);
    session.send(pdu.response({ message_id: id }));
    say({ event: 'submit_sm', id, from: pdu.source_addr, to: pdu.destination_addr,
          text: pdu.short_message && pdu.short_message.message,
          registered_delivery: pdu.registered_delivery });
    if (pdu.registered_delivery & 1) {
      const now = stamp(new Date());
      setTimeout(() => session.deliver_sm({
        source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 0x04,
        short_message: `id:${id} sub:001 dlvrd:001 submit date:${now} done date:${now} ` +
                       'stat:DELIVRD err:000 text:',
        receipted_message_id: id, message_state: 2,
      }, (r) => say({ event: 'receipt_answered', id, status: r.command_status })), 50);
    }
  });
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
});
server.listen(0, '127.0.0.1', () => say({ port: server.address().port }));
