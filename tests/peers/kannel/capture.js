// Records the PDUs Kannel's bearerbox sends to an SMSC: a raw TCP server on PORT that answers
// bind_transceiver, submit_sm and enquire_link, and prints each PDU it receives as NAME HEX.
// The Kannel vectors in tests/proto/smpp_vectors_test.cc were captured with this script.
// Usage: node capture.js PORT
'use strict';
const net = require('net');
const names = { 0x09: 'bind_transceiver', 0x04: 'submit_sm', 0x15: 'enquire_link', 0x06: 'unbind' };
let ids = 1;
net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      const pdu = buf.subarray(0, len);
      buf = buf.subarray(len);
      const id = pdu.readUInt32BE(4), seq = pdu.readUInt32BE(12);
      console.log((names[id] || id.toString(16)) + ' ' + pdu.toString('hex'));
      const resp = (body) => {
        const h = Buffer.alloc(16);
        h.writeUInt32BE(16 + body.length, 0); h.writeUInt32BE((id | 0x80000000) >>> 0, 4);
        h.writeUInt32BE(0, 8); h.writeUInt32BE(seq, 12);
        sock.write(Buffer.concat([h, body]));
      };
      if (id === 0x09) resp(Buffer.from('capture\0'));
      else if (id === 0x04) resp(Buffer.from(String(ids++) + '\0'));
      else if (id === 0x15 || id === 0x06) resp(Buffer.alloc(0));
    }
  });
  sock.on('error', () => {});
}).listen(Number(process.argv[2]), '127.0.0.1');
