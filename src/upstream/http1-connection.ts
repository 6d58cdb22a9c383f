/**
 * One HTTP/1.1 keep-alive connection to an upstream endpoint: it writes one request at a time (no pipelining) and
 * parses the response with Node's built-in llhttp binding — the parser Node's own http client runs, without the
 * IncomingMessage around it — reporting to the request's ResponseHandler with backpressure. It decides whether it
 * can carry another request; its pool decides which.
 */
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { SidelaneError } from '../errors';
import { consumableHandle, HTTPParser, type LlhttpError, type LlhttpParser, type StreamHandle } from '../http/llhttp';
import { renderRequestHead, type UpstreamRequest } from './http1-request';

/** What a request's owner is told, in this order: onConnect, onHeaders, onData…, then onComplete or onError. */
export interface ResponseHandler {
  /** The request has a connection and is about to be written; `abort` abandons it (and destroys the connection). */
  onConnect(abort: (err?: Error) => void): void;
  /** Final response head; headers are a flat [name, value, …] list as received. False: pause until resume(). */
  onHeaders(status: number, headers: string[], resume: () => void): boolean;
  /** A piece of the body; false: pause until resume(). */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

/** The pool, as a connection sees it. */
export interface ConnectionOwner {
  /** The response completed and the connection may carry another request. */
  released(conn: Http1Connection): void;
  /** The socket is gone (after an error, the server's close, idle timeout or destroy()). */
  closed(conn: Http1Connection): void;
}

export interface ConnectionSettings {
  /** The Host header sent when the client sent none (the endpoint's address). */
  readonly host: string;
  /** How long the connection may stay idle (the cluster's idle timeout). */
  readonly idleTimeoutMs: number;
  /** Requests per connection; 0 = unlimited. */
  readonly maxRequests: number;
}

/** The upstream broke the exchange: closed or reset the connection mid-request, or answered unparseably. */
export class UpstreamResponseError extends SidelaneError {
  constructor(code: 'SIDELANE_ERR_UPSTREAM_RESET' | 'SIDELANE_ERR_UPSTREAM_PROTOCOL', message: string, cause?: unknown) {
    super(code, message, {}, cause === undefined ? undefined : { cause });
    this.name = 'UpstreamResponseError';
  }
}

// ---------------------------------------------------------------------------------------------- Node's parser (src/http/llhttp.ts)

/** A response parser, pointing back at its connection (module-level callbacks find it through `this`). */
type ResponseParser = LlhttpParser & { conn: Http1Connection | undefined };

/** The async resource the parser's callbacks run in (Node passes one per request; one per connection is enough). */
const PARSER_RESOURCE = Object.freeze({ type: 'sidelane.upstream-http1' });

/**
 * The server's `Keep-Alive: timeout=N` hint is trusted minus this margin, so the proxy stops reusing a connection
 * before the server closes it (the value undici used; the race it avoids is a request written as the FIN arrives).
 */
const KEEP_ALIVE_HINT_MARGIN_MS = 2000;
const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/i;

// Module-level parser callbacks (`this` is the parser): no closure per connection.
function onParserMessageBegin(this: ResponseParser): void {
  this.conn?.messageBegin();
}
function onParserHeaders(this: ResponseParser, headers: string[]): void {
  this.conn?.partialHeaders(headers);
}
function onParserHeadersComplete(
  this: ResponseParser,
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  _method: unknown,
  _url: unknown,
  status: number,
  _statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
): number {
  return this.conn === undefined ? -1 : this.conn.headersComplete(versionMajor === 1 && versionMinor === 1, headers, status, upgrade, shouldKeepAlive);
}
function onParserBody(this: ResponseParser, chunk: Buffer): void {
  this.conn?.responseBody(chunk);
}
function onParserMessageComplete(this: ResponseParser): void {
  this.conn?.messageComplete();
}
function onParserExecute(this: ResponseParser, ret: number | LlhttpError): void {
  this.conn?.afterExecute(ret);
}
function closeParser(parser: ResponseParser): void {
  parser.close();
}

// Module-level socket listeners (`this` is the socket).
const kConnection = Symbol('sidelane.http1-connection');
type WithConnection = net.Socket & { [kConnection]?: Http1Connection };
function onSocketData(this: WithConnection, data: Buffer): void {
  this[kConnection]?.socketData(data);
}
function onSocketEnd(this: WithConnection): void {
  this[kConnection]?.socketEnd();
}
function onSocketError(this: WithConnection, err: Error): void {
  this[kConnection]?.socketError(err);
}
function onSocketClose(this: WithConnection): void {
  this[kConnection]?.socketClose();
}
function onSocketDrain(this: WithConnection): void {
  this[kConnection]?.bodyDrained();
}
const kBodyOwner = Symbol('sidelane.http1-body-owner');
type OwnedBody = Readable & { [kBodyOwner]?: Http1Connection };
function onBodyData(this: OwnedBody, chunk: Buffer): void {
  this[kBodyOwner]?.writeBodyChunk(chunk);
}
function onBodyEnd(this: OwnedBody): void {
  this[kBodyOwner]?.bodyEnded();
}
function onBodyError(this: OwnedBody, err: Error): void {
  this[kBodyOwner]?.fail(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', `request body failed: ${err.message}`, err));
}

const CHUNK_END = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

export class Http1Connection {
  /** Monotonic ms when it last became idle (the pool's idle sweep). */
  idleSince = 0;
  /** How long it may stay idle: the cluster's idle timeout, or the server's Keep-Alive hint if shorter. */
  idleTimeoutMs: number;
  private readonly parser: ResponseParser;
  private served = 0;
  private closed = false;

  // The request in flight (undefined while idle).
  private handler: ResponseHandler | undefined;
  private isHead = false;
  /** Set on a final (>= 200) response head; 1xx heads are skipped. */
  private status = 0;
  private keepAlive = false;
  /** The server may close after this response (Connection: close, HTTP/1.0, the last request, a HEAD). */
  private lastRequest = false;
  private headerParts: string[] | undefined;
  /** Paused by the handler: body chunks parsed meanwhile wait here, and so does the completion. */
  private paused = false;
  private held: Buffer[] | undefined;
  private completePending = false;
  /** The response completed inside the current execute(): reported once the parser has returned. */
  private completedInExecute = false;
  /** Inside parser.execute() (or, consuming, between a parser callback and kOnExecute). */
  private executing = false;
  /** The socket's handle when the parser consumes it; undefined when data comes through 'data' events. */
  private readonly handle: StreamHandle | undefined;
  private readStopped = false;
  private pendingError: Error | undefined;

  // The request body being streamed.
  private requestBody: OwnedBody | undefined;
  private chunked = false;
  private bodyRemaining = -1;

  constructor(
    readonly socket: net.Socket,
    private readonly owner: ConnectionOwner,
    private readonly settings: ConnectionSettings,
  ) {
    this.idleTimeoutMs = settings.idleTimeoutMs;
    const parser = new HTTPParser() as ResponseParser;
    parser.initialize(HTTPParser.RESPONSE, PARSER_RESOURCE, 0, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnMessageBegin] = onParserMessageBegin;
    parser[HTTPParser.kOnHeaders] = onParserHeaders;
    parser[HTTPParser.kOnHeadersComplete] = onParserHeadersComplete;
    parser[HTTPParser.kOnBody] = onParserBody;
    parser[HTTPParser.kOnMessageComplete] = onParserMessageComplete;
    parser.conn = this;
    this.parser = parser;
    // As Node's HTTP server does: the parser reads the socket's handle itself, so a response costs no Readable
    // push and no 'data' event; EOF and errors still reach the socket (and its 'end'/'error' listeners).
    const handle = consumableHandle(socket);
    if (handle !== undefined) {
      handle._consumed = true;
      parser.consume(handle);
      parser[HTTPParser.kOnExecute] = onParserExecute;
      this.handle = handle;
    } else {
      parser[HTTPParser.kOnExecute] = null;
    }
    const s = socket as WithConnection;
    s[kConnection] = this;
    s.setNoDelay(true);
    s.on('data', onSocketData); // also what keeps the socket (and, consuming, its handle) reading
    s.on('end', onSocketEnd);
    s.on('error', onSocketError);
    s.on('close', onSocketClose);
    s.on('drain', onSocketDrain);
  }

  get destroyed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** Bound once: the handler's way to resume a paused response. */
  private readonly resume = (): void => this.resumeResponse();

  // ------------------------------------------------------------------------------------------------ request

  /**
   * Runs one request. False when the handler abandoned it in onConnect, before a byte was written: the connection
   * is untouched and can serve someone else.
   */
  run(request: UpstreamRequest, handler: ResponseHandler): boolean {
    let aborted: Error | undefined;
    let writing = false;
    const abort = (err?: Error): void => {
      if (!writing) {
        aborted ??= err ?? new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', 'request aborted');
        return;
      }
      if (this.handler === handler) this.fail(err ?? new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', 'request aborted'));
    };
    handler.onConnect(abort);
    if (aborted !== undefined) {
      handler.onError(aborted);
      return false;
    }
    writing = true;
    this.handler = handler;
    this.served += 1;
    this.isHead = request.method === 'HEAD';
    this.status = 0;
    this.paused = false;
    const max = this.settings.maxRequests;
    // After a HEAD the connection is not reused (as undici did): a server that wrongly sends a body with its HEAD
    // response would otherwise have that body parsed as the next response.
    this.lastRequest = (max > 0 && this.served >= max) || this.isHead;
    const { head, framing, contentLength } = renderRequestHead(request, this.settings.host, this.lastRequest);
    const socket = this.socket;
    const body = request.body;
    if (framing === 'none') {
      socket.write(head, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    } else {
      socket.write(head, 'latin1');
      this.streamBody(body as Readable, framing === 'chunked', contentLength);
    }
    return true;
  }

  private streamBody(body: OwnedBody, chunked: boolean, contentLength: number): void {
    this.requestBody = body;
    this.chunked = chunked;
    this.bodyRemaining = chunked ? -1 : contentLength;
    body[kBodyOwner] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
    if (body.readableEnded) this.bodyEnded();
  }

  /** @internal A chunk of the request body: written with backpressure (the body pauses until the socket drains). */
  writeBodyChunk(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const socket = this.socket;
    let ok: boolean;
    if (this.chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write(CHUNK_END);
      socket.uncork();
    } else {
      this.bodyRemaining -= chunk.length;
      if (this.bodyRemaining < 0) {
        this.fail(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', 'request body longer than its Content-Length'));
        return;
      }
      ok = socket.write(chunk);
    }
    if (!ok) this.requestBody?.pause();
  }

  /** @internal */
  bodyDrained(): void {
    this.requestBody?.resume();
  }

  /** @internal */
  bodyEnded(): void {
    if (this.requestBody === undefined) return;
    if (!this.chunked && this.bodyRemaining > 0) {
      this.fail(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', 'request body shorter than its Content-Length'));
      return;
    }
    if (this.chunked) this.socket.write(LAST_CHUNK);
    this.releaseBody();
  }

  private releaseBody(): OwnedBody | undefined {
    const body = this.requestBody;
    if (body === undefined) return undefined;
    this.requestBody = undefined;
    body[kBodyOwner] = undefined;
    body.off('data', onBodyData);
    body.off('end', onBodyEnd);
    body.off('error', onBodyError);
    return body;
  }

  // ------------------------------------------------------------------------------------------------ response

  /** @internal */
  socketData(data: Buffer): void {
    if (this.handler === undefined) {
      // Bytes nobody asked for (an idle connection): the server is confused; do not reuse what it says next.
      this.destroy();
      return;
    }
    this.executing = true;
    this.afterExecute(this.parser.execute(data));
  }

  /** @internal What a parse of one read left to do: report a failure, or the completed response. */
  afterExecute(result: number | LlhttpError): void {
    this.executing = false;
    let ret = result;
    if (this.handler === undefined && !this.completedInExecute) {
      // Bytes with no request in flight (consuming, they reach the parser before anyone can look): drop it.
      this.destroy();
      return;
    }
    // A failure noticed in a callback; with a 101, Node's binding reports no parse error (the upgrade flag is set).
    if (this.pendingError !== undefined) ret = this.pendingError;
    if (typeof ret !== 'number') {
      if (this.completedInExecute) {
        // The response was whole; what followed it was not: report the response, then drop the connection.
        this.keepAlive = false;
        this.finishResponse();
      }
      this.fail(protocolError(ret));
      return;
    }
    if (this.completedInExecute) this.finishResponse();
  }

  /** @internal */
  messageBegin(): void {
    this.executing = true;
    // Another message right behind a complete response, with no request for it: never reuse this connection.
    if (this.completedInExecute) this.keepAlive = false;
  }

  /** @internal Headers too many or too fragmented for one callback (Node's parser flushes them in parts). */
  partialHeaders(headers: string[]): void {
    this.executing = true;
    if (this.headerParts === undefined) this.headerParts = headers;
    else for (const h of headers) this.headerParts.push(h);
  }

  /** @internal Returns 1 to skip the body (HEAD, 1xx), -1 to fail the parse. */
  headersComplete(http11: boolean, headers: string[] | undefined, status: number, upgrade: boolean, shouldKeepAlive: boolean): number {
    this.executing = true;
    const handler = this.handler;
    const parts = this.headerParts;
    this.headerParts = undefined;
    if (handler === undefined || this.completedInExecute) return -1; // a response to no request
    if (upgrade || status === 101) {
      // Hop-by-hop Upgrade is never forwarded, so a switch of protocols is a server error (undici: "bad upgrade").
      this.failLater(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_PROTOCOL', `upstream switched protocols (${status}) without being asked`));
      return -1;
    }
    if (status < 200) return 1; // 1xx interim response: skipped, its (empty) message completes on its own
    const all = parts === undefined ? (headers ?? []) : headers === undefined ? parts : parts.concat(headers);
    this.status = status;
    // HTTP/1.0 responses end reuse even with Keep-Alive: an old server's keep-alive is rarely worth the risk.
    this.keepAlive = shouldKeepAlive && http11 && !this.lastRequest;
    if (this.keepAlive) this.applyKeepAliveHint(all);
    let more: boolean;
    try {
      more = handler.onHeaders(status, all, this.resume);
    } catch (err) {
      this.failLater(handlerFailed(err)); // never let a handler's exception escape into the parser
      return -1;
    }
    if (!more) this.pause();
    if (this.handler !== handler) return -1; // aborted from inside onHeaders: stop parsing
    return this.isHead ? 1 : 0;
  }

  private applyKeepAliveHint(headers: string[]): void {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      const m = KEEP_ALIVE_TIMEOUT.exec(headers[i + 1]!);
      if (m === null) continue;
      const hinted = Number(m[1]) * 1000 - KEEP_ALIVE_HINT_MARGIN_MS;
      if (hinted <= 0) this.keepAlive = false;
      else if (hinted < this.idleTimeoutMs) this.idleTimeoutMs = hinted;
    }
  }

  /** @internal */
  responseBody(chunk: Buffer): void {
    this.executing = true;
    const handler = this.handler;
    if (handler === undefined || this.status < 200 || this.pendingError !== undefined) return;
    if (this.paused) {
      (this.held ??= []).push(chunk);
      return;
    }
    let more: boolean;
    try {
      more = handler.onData(chunk);
    } catch (err) {
      this.failLater(handlerFailed(err));
      return;
    }
    if (!more) this.pause();
  }

  /** @internal */
  messageComplete(): void {
    this.executing = true;
    if (this.pendingError !== undefined) return;
    if (this.handler === undefined || this.status < 200) return; // the end of a 1xx, or of an abandoned response
    if (this.paused) this.completePending = true;
    else this.completedInExecute = true;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.stopReading();
  }

  private resumeResponse(): void {
    if (!this.paused || this.handler === undefined) return;
    const handler = this.handler;
    const held = this.held;
    while (held !== undefined && held.length > 0) {
      if (!handler.onData(held.shift()!)) return; // paused again; wait for the next resume()
      if (this.handler !== handler) return; // aborted from inside onData
    }
    this.held = undefined;
    this.paused = false;
    if (this.completePending) {
      this.completePending = false;
      this.finishResponse();
      return;
    }
    this.startReading();
  }

  private stopReading(): void {
    if (this.handle === undefined) {
      this.socket.pause();
    } else if (!this.readStopped && !this.socket.destroyed) {
      this.readStopped = true;
      this.handle.readStop();
    }
  }

  private startReading(): void {
    if (this.handle === undefined) {
      if (this.socket.isPaused()) this.socket.resume();
    } else if (this.readStopped && !this.socket.destroyed) {
      this.readStopped = false;
      this.handle.readStart();
    }
  }

  /** The response is whole: reuse or drop the connection, then tell the handler (so it can dispatch onto it). */
  private finishResponse(): void {
    const handler = this.handler!;
    this.completedInExecute = false;
    this.handler = undefined;
    this.status = 0;
    this.paused = false;
    // A response that ends while its request body is still being sent: the server will not read the rest.
    const reusable = this.keepAlive && this.requestBody === undefined && !this.closed;
    if (reusable) {
      this.startReading();
      this.owner.released(this);
    } else {
      this.destroy();
    }
    handler.onComplete();
  }

  // ------------------------------------------------------------------------------------------------ endings

  /** @internal The server closed its side. */
  socketEnd(): void {
    if (this.handler !== undefined && this.status >= 200 && !this.keepAlive) {
      // A read-until-close body ends here (or a truncated one is detected): finish() says which.
      const err = this.parser.finish();
      this.executing = false; // finish() ran the parser's callbacks; there is no kOnExecute after it
      if (err !== undefined && typeof err !== 'number') {
        this.fail(protocolError(err, 'SIDELANE_ERR_UPSTREAM_RESET'));
        return;
      }
      if (this.completedInExecute) this.finishResponse();
      else if (this.completePending) return; // delivered when the handler resumes; the socket is done either way
    }
    if (this.handler !== undefined && !this.completePending) {
      this.fail(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', 'upstream closed the connection before the response completed'));
      return;
    }
    if (this.handler === undefined) this.destroy();
  }

  /** @internal */
  socketError(err: Error): void {
    this.fail(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', `upstream connection failed: ${err.message}`, err));
  }

  /** @internal */
  socketClose(): void {
    if (this.handler !== undefined && !this.completePending) {
      this.fail(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', 'upstream connection closed before the response completed'));
    }
    this.cleanup();
  }

  /** A failure noticed inside a parser callback: reported once execute() returns the parse error it causes. */
  private failLater(err: Error): void {
    this.pendingError = err;
  }

  /** Ends the request in flight with `err` and destroys the connection. */
  fail(err: Error): void {
    const handler = this.handler;
    this.handler = undefined;
    this.held = undefined;
    this.completePending = false;
    this.completedInExecute = false;
    const reported = this.pendingError ?? err;
    this.pendingError = undefined;
    this.destroy();
    handler?.onError(reported);
  }

  /** Closes the connection now (idle timeout, pool closed, failure). */
  destroy(): void {
    const body = this.releaseBody();
    if (body !== undefined && !body.destroyed) body.destroy();
    if (!this.socket.destroyed) this.socket.destroy();
    // Inside execute() the parser is still running: finish when the socket's close event comes.
    if (!this.executing) this.cleanup();
  }

  /** Forgets the socket and the parser (the request in flight, if any, was told by fail() or finishes on resume). */
  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    (this.socket as WithConnection)[kConnection] = undefined;
    const parser = this.parser;
    parser.conn = undefined;
    if (this.handle !== undefined) parser.unconsume();
    // We may be inside one of the parser's callbacks: free it once its stack has unwound (as Node's freeParser).
    setImmediate(closeParser, parser);
    this.owner.closed(this);
  }
}

function handlerFailed(err: unknown): Error {
  return new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', `response handler failed: ${String(err)}`, err);
}

function protocolError(err: LlhttpError, code: 'SIDELANE_ERR_UPSTREAM_PROTOCOL' | 'SIDELANE_ERR_UPSTREAM_RESET' = 'SIDELANE_ERR_UPSTREAM_PROTOCOL'): Error {
  if (err instanceof UpstreamResponseError) return err;
  const what = err.code !== undefined ? `${err.code}${err.reason ? `: ${err.reason}` : ''}` : err.message;
  return new UpstreamResponseError(code, `malformed upstream response (${what})`, err);
}
