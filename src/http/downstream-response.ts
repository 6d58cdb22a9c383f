/**
 * The response to one downstream request, written straight onto the client's socket (the encoder half of the HTTP/1.1
 * codec): status line and headers as one latin1 string, the body framed by Content-Length as the upstream sent it,
 * or re-chunked for an HTTP/1.1 client, or delimited by the close for an HTTP/1.0 one. The head is held back until the
 * first body bytes or the end, so a small response leaves in one write(v) system call.
 */
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { DownstreamRequest } from './downstream-request';

/** What the response tells its connection. */
export interface ResponseOwner {
  /** The response is complete on the wire; `keepAlive` false = close the connection once it is flushed. */
  responseFinished(keepAlive: boolean): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
/** Bodies up to this size leave in the same buffer as the head. */
const SMALL_BODY = 16 * 1024;

let dateSecond = -1;
let dateValue = '';
/** The Date header value, formatted once per second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

export class DownstreamResponse {
  headersSent = false;
  finished = false;
  /** The last write did not fit in the socket's buffer: the connection's 'drain' resumes the upstream. */
  waitingForDrain = false;
  private head: string | undefined;
  private chunked = false;
  private noBody = false;
  private keepAlive = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly req: DownstreamRequest,
    private readonly owner: ResponseOwner,
  ) {}

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  /**
   * Starts the response. `headers` is a flat [name, value, …] list without hop-by-hop headers; a `connection: close`
   * among them closes the connection after this response. Framing headers the client needs are added here.
   */
  writeHead(status: number, headers: readonly string[]): void {
    if (this.headersSent) throw new Error('response already started');
    this.headersSent = true;
    let hasLength = false;
    let close = false;
    let hasDate = false;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'date') hasDate = true;
          break;
        case 10:
          if (name.toLowerCase() === 'connection' && value.toLowerCase() === 'close') close = true;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') hasLength = true;
          break;
        default:
          break;
      }
      head += `${name}: ${value}\r\n`;
    }
    const req = this.req;
    this.noBody = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let keepAlive = req.keepAlive && !close;
    if (!this.noBody && !hasLength) {
      // No length from the upstream (it was chunked or close-delimited): chunk it again for an HTTP/1.1 client; an
      // HTTP/1.0 client reads until the close.
      if (req.isHttp11) {
        this.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else {
        keepAlive = false;
      }
    }
    if (!hasDate) head += `date: ${httpDate()}\r\n`;
    if (!keepAlive && !close) head += 'connection: close\r\n';
    else if (keepAlive && !req.isHttp11) head += 'connection: keep-alive\r\n';
    this.keepAlive = keepAlive;
    this.head = `${head}\r\n`;
  }

  /** Writes body bytes; false when the socket's buffer is full (wait for the connection's drain). */
  write(chunk: Buffer): boolean {
    if (this.finished || this.noBody || chunk.length === 0) return true;
    const socket = this.socket;
    if (socket.destroyed) return true;
    const head = this.head;
    let ok: boolean;
    if (head === undefined && !this.chunked) {
      ok = socket.write(chunk);
    } else if (head !== undefined && !this.chunked && chunk.length <= SMALL_BODY) {
      // The usual small response: head and body copied into one buffer, one plain write (cheaper than a writev of a
      // string and a buffer through Node's stream layer).
      this.head = undefined;
      const out = Buffer.allocUnsafe(head.length + chunk.length);
      out.write(head, 0, 'latin1');
      chunk.copy(out, head.length);
      ok = socket.write(out);
    } else {
      socket.cork();
      if (head !== undefined) {
        this.head = undefined;
        socket.write(head, 'latin1');
      }
      if (this.chunked) {
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write(CRLF, 'latin1');
      } else {
        ok = socket.write(chunk);
      }
      socket.uncork();
    }
    if (!ok) this.waitingForDrain = true;
    return ok;
  }

  /** Ends the response (with a last piece of body, for local replies). */
  end(last?: Buffer | string): void {
    if (this.finished) return;
    this.finished = true;
    const socket = this.socket;
    if (!socket.destroyed) {
      let body = last === undefined || this.noBody ? undefined : typeof last === 'string' ? (last === '' ? undefined : Buffer.from(last)) : last;
      if (body !== undefined && body.length === 0) body = undefined;
      const head = this.head;
      this.head = undefined;
      if (head !== undefined && body === undefined && !this.chunked) {
        socket.write(head, 'latin1');
      } else {
        socket.cork();
        if (head !== undefined) socket.write(head, 'latin1');
        if (this.chunked) {
          if (body !== undefined) {
            socket.write(`${body.length.toString(16)}\r\n`, 'latin1');
            socket.write(body);
            socket.write(CRLF, 'latin1');
          }
          socket.write(LAST_CHUNK, 'latin1');
        } else if (body !== undefined) {
          socket.write(body);
        }
        socket.uncork();
      }
    }
    this.owner.responseFinished(this.keepAlive);
  }

  /** Abandons the response mid-way (the upstream failed after it started): the client sees the connection close. */
  destroy(): void {
    this.finished = true;
    this.socket.destroy();
  }
}
