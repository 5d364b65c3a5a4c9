// A tiny HTTP endpoint for Kannel's smsbox: prints every request it gets (the MO get-url and
// the dlr-url callbacks) as one JSON line, answers 200 with an empty body (no reply SMS).
// Usage: node http-sink.js   -> prints {"port": N}, then {"url": "/mo?..."} per request.
'use strict';
const http = require('http');
const server = http.createServer((req, res) => {
  console.log(JSON.stringify({ url: decodeURIComponent(req.url.replace(/\+/g, ' ')) }));
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('');
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
