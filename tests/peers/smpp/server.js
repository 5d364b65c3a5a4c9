// npm `smpp`'s own server (0.5.1) as a reference SMSC: accepts any bind, answers every submit_sm
// at once with a counter as message id (no persistence), answers enquire_link and unbind.
// Usage: node server.js PORT   (0: any free port). Prints {"port": N} once listening.
'use strict';
const smpp = require('smpp');

let nextId = 1;
const server = smpp.createServer({}, (session) => {
  const ok = (pdu) => session.send(pdu.response());
  session.on('bind_transceiver', ok);
  session.on('bind_transmitter', ok);
  session.on('bind_receiver', ok);
  session.on('enquire_link', ok);
  session.on('submit_sm', (pdu) => session.send(pdu.response({ message_id: String(nextId++) })));
  session.on('deliver_sm_resp', () => {});
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('error', () => {});
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
