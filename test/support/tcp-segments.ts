/**
 * Counts the TCP segments a client receives through a forwarder (the kernel's own count, TCP_INFO tcpi_segs_in), for
 * tests of how the relay packs bytes and FIN into segments. Node has no TCP_INFO, so a small python3 program plays
 * both the upstream server and the client: it listens, says its port, connects to the forwarder it is told about,
 * answers with `response` bytes and its FIN in one segment (MSG_MORE, then shutdown), reads the client side to EOF.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const PROGRAM = String.raw`
import json, socket, struct, sys
size = int(sys.argv[1])
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(4)
print(srv.getsockname()[1], flush=True)
port = int(sys.stdin.readline())
cli = socket.create_connection(('127.0.0.1', port))
up, _ = srv.accept()
up.send(b'r' * size, socket.MSG_MORE)  # corked: the FIN below leaves in the same segment
up.shutdown(socket.SHUT_WR)
got = 0
while True:
    b = cli.recv(65536)
    if not b: break
    got += len(b)
info = cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
segs_in = struct.unpack_from('I', info, 140)[0]  # struct tcp_info: tcpi_segs_in follows tcpi_segs_out at 136
print(json.dumps({'bytes': got, 'segsIn': segs_in}), flush=True)
cli.close(); up.close(); srv.close()
`;

export interface SegmentCount {
  readonly bytes: number;
  /** Segments the client's socket received, SYN-ACK included. */
  readonly segsIn: number;
}

/**
 * Runs the exchange: `forwarderTo(upstreamPort)` must start a forwarder towards that port and return its port.
 */
export async function countClientSegments(response: number, forwarderTo: (upstreamPort: number) => Promise<number>): Promise<SegmentCount> {
  const child = spawn('/usr/bin/python3', ['-c', PROGRAM, String(response)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw new Error('tcp-segments helper exited before saying its port');
  const port = await forwarderTo(Number(first.value));
  child.stdin.write(`${port}\n`);
  const second = await it.next();
  if (second.done) throw new Error('tcp-segments helper exited before reporting');
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`tcp-segments helper exited with ${String(code)}`);
  return JSON.parse(second.value) as SegmentCount;
}
