/**
 * A test app: an HTTP/1.1 server (dual-stack) per `PORT[:NAME]` argument answering every request with JSON
 * {name, peer, method, path, headers}. `?status=N` sets the status, `?delay=MS` delays the answer, `?bytes=N`
 * adds a body of N bytes. Prints `listening …` when ready; with HTTP_ECHO_LOG=1 also `request <name> <url>` for each
 * request as it arrives (a test can count exactly what reached the app).
 */
import http from 'node:http';

const specs = process.argv.slice(2).map((a) => {
  const [port, name = `app-${port}`] = a.split(':');
  return { port: Number(port), name };
});
let ready = 0;
for (const { port, name } of specs) {
  const server = http.createServer((req, res) => {
    if (process.env.HTTP_ECHO_LOG) process.stdout.write(`request ${name} ${req.url ?? '/'}\n`);
    const url = new URL(req.url ?? '/', 'http://x');
    const body = JSON.stringify({
      name,
      peer: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      method: req.method,
      path: url.pathname,
      headers: req.headers,
      ...(url.searchParams.get('bytes') ? { filler: 'x'.repeat(Number(url.searchParams.get('bytes'))) } : {}),
    });
    const status = Number(url.searchParams.get('status') ?? 200);
    const send = (): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const delay = Number(url.searchParams.get('delay') ?? 0);
    req.resume();
    req.on('end', () => (delay > 0 ? setTimeout(send, delay) : send()));
  });
  server.keepAliveTimeout = 30_000;
  server.listen({ port, host: '::', ipv6Only: false }, () => {
    ready += 1;
    if (ready === specs.length) process.stdout.write(`listening ${specs.map((s) => s.port).join(',')}\n`);
  });
}
process.on('SIGTERM', () => process.exit(0));
