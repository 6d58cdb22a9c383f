/**
 * A test client that holds connections open and is driven over stdin, one command per line, answering each with
 * one JSON line on stdout — for tests that need established connections to survive something (fd exhaustion, a
 * restart) while new ones are tried. Connections go to HOST:PORT of an echo server (test/support/apps/echo-server,
 * default mode: it first writes a `peer …` line). Usage: node conn-holder.js HOST PORT. Commands:
 *  open N [TIMEOUT_MS]  opens N connections one after the other; each counts as ok once the peer line arrived →
 *                       {opened, failed, errors: {reason: count}, held}
 *  burst N [TIMEOUT_MS] the same, all N at once → the same answer
 *  ping                 sends 16 bytes on every held connection and waits for the echo →
 *                       {ok, failed, held, failedPorts: [local port of each failed one]}
 *  ports                → {ports: [local port of each held connection]} (for mapping them to a proxy worker)
 *  prune                forgets held connections that are closed → {held}
 *  close N              closes N held connections (FIN) → {held}
 */
import net from 'node:net';
import readline from 'node:readline';

const [host = '', portText = '0'] = process.argv.slice(2);
const port = Number(portText);
const held: net.Socket[] = [];
/** Local ports, recorded at open: a closed socket no longer knows its own. */
const portOf = new WeakMap<net.Socket, number>();

function openOne(timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let done = false;
    const finish = (err: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.removeAllListeners('data');
      if (err !== undefined) s.destroy();
      else {
        held.push(s);
        portOf.set(s, s.localPort ?? 0);
      }
      resolve(err);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    let got = '';
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    s.on('end', () => finish('eof'));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\n')) finish(undefined);
    });
  });
}

function ping(s: net.Socket): Promise<boolean> {
  if (s.destroyed || !s.writable) return Promise.resolve(false);
  return new Promise((resolve) => {
    const want = Buffer.from('0123456789abcdef');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => finish(false), 5000);
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c]);
      if (got.length >= want.length) finish(got.equals(want));
    };
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onClose);
      resolve(ok);
    };
    const onClose = (): void => finish(false);
    s.on('data', onData);
    s.once('close', onClose);
    s.write(want);
  });
}

const reply = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function command(line: string): Promise<void> {
  const [cmd, a = '0', b = '5000'] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'open': {
      let opened = 0;
      let failed = 0;
      const errors: Record<string, number> = {};
      for (let i = 0; i < Number(a); i++) {
        const err = await openOne(Number(b));
        if (err === undefined) opened += 1;
        else {
          failed += 1;
          errors[err] = (errors[err] ?? 0) + 1;
        }
      }
      reply({ opened, failed, errors, held: held.length });
      return;
    }
    case 'burst': {
      const results = await Promise.all(Array.from({ length: Number(a) }, () => openOne(Number(b))));
      const errors: Record<string, number> = {};
      for (const err of results) if (err !== undefined) errors[err] = (errors[err] ?? 0) + 1;
      const failed = results.filter((r) => r !== undefined).length;
      reply({ opened: results.length - failed, failed, errors, held: held.length });
      return;
    }
    case 'ping': {
      const results = await Promise.all(held.map(ping));
      const failedPorts = held.filter((_, i) => !results[i]).map((h) => portOf.get(h) ?? 0);
      reply({ ok: results.filter(Boolean).length, failed: results.filter((r) => !r).length, held: held.length, failedPorts });
      return;
    }
    case 'ports':
      reply({ ports: held.map((h) => portOf.get(h) ?? 0) });
      return;
    case 'prune': {
      const alive = held.filter((h) => !h.destroyed && h.writable);
      for (const h of held) if (!alive.includes(h)) h.destroy();
      held.length = 0;
      held.push(...alive);
      reply({ held: held.length });
      return;
    }
    case 'close': {
      for (const s of held.splice(0, Number(a))) s.end();
      reply({ held: held.length });
      return;
    }
    default:
      reply({ error: `unknown command ${cmd}` });
  }
}

let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(() => command(line));
});
process.stdout.write('ready\n');
