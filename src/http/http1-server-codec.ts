/**
 * The HTTP/1.1 server codec of one downstream connection (Envoy's http1 ServerConnection): Node's llhttp binding
 * parses the bytes as they arrive, requests are served one at a time in the order they came (pipelined ones wait,
 * their bodies buffered, and reading stops while too many wait), each gets a DownstreamResponse writing onto the
 * socket, and the connection is kept alive, closed after a response, or refused with a status when the bytes are not
 * HTTP. Parsing is strict (llhttp without lenient flags, as Node's server): smuggling-shaped framing never gets past.
 */
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { HttpConnectionContext } from './connection-manager';
import { type BodyFlow, DownstreamRequest } from './downstream-request';
import { DownstreamResponse, type ResponseOwner } from './downstream-response';
import { consumableHandle, HTTPParser, METHODS, type LlhttpError, type LlhttpParser, type StreamHandle } from './llhttp';
import { ResponseFlag } from './response-flags';

/** A request parser, pointing back at its codec (module-level callbacks find it through `this`). */
type RequestParser = LlhttpParser & { codec?: Http1ServerCodec | undefined };

/** A refusal the proxy answers itself, then closes the connection; counted and logged like any request. */
export interface Rejection {
  readonly status: number;
  readonly details: string;
  readonly flag: number;
}

/** What the proxy answers to bytes it cannot parse or that came too slowly (llhttp's error codes; Node's wording). */
const REJECTIONS: Readonly<Record<string, Rejection>> = {
  HPE_HEADER_OVERFLOW: { status: 431, details: 'http1.headers_too_large', flag: ResponseFlag.DPE },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, details: 'http1.chunk_extensions_too_large', flag: ResponseFlag.DPE },
};
const BAD_REQUEST: Rejection = { status: 400, details: 'http1.codec_error', flag: ResponseFlag.DPE };
export const HEADERS_TIMEOUT: Rejection = { status: 408, details: 'request_header_timeout', flag: 0 };
const CONNECT_REFUSED: Rejection = { status: 400, details: 'http1.connect_not_supported', flag: ResponseFlag.DPE };

/** How long a connection closed after its last response may wait for the client's own close (Envoy's default). */
export const DELAYED_CLOSE_MS = 1000;
/** Pipelined requests parsed ahead of the one being served, at most: past this the socket is not read. */
const MAX_QUEUED = 16;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** The request-side callbacks an exchange receives from the codec. */
export interface RequestSink {
  start(): void;
  requestData(chunk: Buffer): void;
  requestEnd(): void;
  /** The client closed or reset the connection before the response was complete (flag DC). */
  downstreamClosed(): void;
  /** The rest of the request was not HTTP (a bad chunk after good headers); `status` 0 = nothing could be answered. */
  downstreamProtocolError(status: number, details: string): void;
  /** The socket took what the response could not write before: let the upstream send more. */
  resumeUpstream(): void;
}

/** The codec's owner: the connection manager. */
export interface CodecOwner {
  readonly maxHeaderBytes: number;
  now(): number;
  /** An exchange for a request whose turn has come (not started yet). */
  newExchange(codec: Http1ServerCodec, req: DownstreamRequest, res: DownstreamResponse): RequestSink;
  /** A request refused before it became an exchange. */
  rejected(codec: Http1ServerCodec, rejection: Rejection): void;
  codecClosed(codec: Http1ServerCodec): void;
}

/** One request on the connection: being served (has an exchange) or waiting its turn (body buffered). */
interface Message {
  readonly req: DownstreamRequest;
  res: DownstreamResponse | undefined;
  sink: RequestSink | undefined;
  body: Buffer[] | undefined;
  complete: boolean;
}

const kCodec = Symbol('sidelane.http1Codec');
type CodecSocket = net.Socket & { [kCodec]?: Http1ServerCodec };

// Module-level callbacks (`this` is the parser or the socket): nothing is allocated per connection or request.
function onMessageBegin(this: RequestParser): void {
  this.codec?.messageBegin();
}
function onHeaders(this: RequestParser, headers: string[], url: string): void {
  this.codec?.headersPart(headers, url);
}
function onHeadersComplete(
  this: RequestParser,
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  _status: unknown,
  _statusMessage: unknown,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  this.codec?.headersComplete(versionMajor, versionMinor, headers, method, url, upgrade, keepAlive);
  return 0;
}
function onBody(this: RequestParser, chunk: Buffer): void {
  this.codec?.body(chunk);
}
function onMessageComplete(this: RequestParser): void {
  this.codec?.messageComplete();
}
function onExecute(this: RequestParser, result: number | LlhttpError): void {
  this.codec?.executed(result);
}
function onSocketData(this: CodecSocket, chunk: Buffer): void {
  this[kCodec]?.data(chunk);
}
function onSocketEnd(this: CodecSocket): void {
  this[kCodec]?.clientEnded();
}
function onSocketDrain(this: CodecSocket): void {
  this[kCodec]?.drained();
}
function onSocketClose(this: CodecSocket): void {
  this[kCodec]?.closed();
}
function ignoreSocketError(): void {
  // A reset client: 'close' follows and ends whatever was in flight.
}

/** Parsers are reused across connections, as Node's server does (their native state is large). */
const parserPool: RequestParser[] = [];
const PARSER_POOL_MAX = 256;

function takeParser(maxHeaderBytes: number): RequestParser {
  const parser = parserPool.pop() ?? newParser();
  parser.initialize(HTTPParser.REQUEST, {}, maxHeaderBytes, HTTPParser.kLenientNone);
  return parser;
}

function newParser(): RequestParser {
  const parser: RequestParser = new HTTPParser();
  parser[HTTPParser.kOnMessageBegin] = onMessageBegin;
  parser[HTTPParser.kOnHeaders] = onHeaders;
  parser[HTTPParser.kOnHeadersComplete] = onHeadersComplete;
  parser[HTTPParser.kOnBody] = onBody;
  parser[HTTPParser.kOnMessageComplete] = onMessageComplete;
  parser[HTTPParser.kOnExecute] = onExecute;
  return parser;
}

function releaseParser(parser: RequestParser): void {
  parser.codec = undefined;
  parser.free();
  if (parserPool.length < PARSER_POOL_MAX) parserPool.push(parser);
  else parser.close();
}

export class Http1ServerCodec implements ResponseOwner, BodyFlow {
  /** Monotonic ms when the head being received started (or the connection was accepted); -1 when none is awaited. */
  headerStartedAt: number;
  /** Monotonic ms since the connection waits for its next request after a response; -1 when busy. */
  idleSince = -1;
  /** Monotonic ms since our side of the connection was closed after a last response; -1 when not closing. */
  closingSince = -1;
  private parser: RequestParser | undefined;
  /** The request being served (its response not finished, or its body not fully read). */
  private current: Message | undefined;
  /** The request whose bytes the parser is reading (current, or the last queued). */
  private parsing: Message | undefined;
  private readonly queue: Message[] = [];
  private partialHeaders: string[] = [];
  private partialUrl = '';
  private bodyPaused = false;
  private queuePaused = false;
  private isClosed = false;
  /** The parser reads the socket's handle itself (see open()). */
  private handle: StreamHandle | undefined;
  /** llhttp stopped after a request that asked for an Upgrade: the rest of that read is parsed again. */
  private upgraded = false;
  /** Nothing more is read (bytes after a `Connection: close` request): the connection ends after its response. */
  private ignoringInput = false;

  constructor(
    private readonly owner: CodecOwner,
    /** What the router decided about the connection (its port's routes, the transport connection). */
    readonly context: HttpConnectionContext,
    readonly socket: net.Socket,
  ) {
    this.headerStartedAt = owner.now();
    this.parser = takeParser(owner.maxHeaderBytes);
    this.parser.codec = this;
  }

  /** Starts reading: `initial` holds bytes already read from the connection (PROXY remainder, sniffed bytes). */
  open(initial: Buffer | undefined): void {
    const socket = this.socket as CodecSocket;
    socket[kCodec] = this;
    socket.setNoDelay(true);
    socket.on('end', onSocketEnd);
    socket.on('drain', onSocketDrain);
    socket.on('error', ignoreSocketError);
    socket.once('close', onSocketClose);
    if (initial !== undefined && initial.length > 0) this.data(initial);
    if (this.isClosed) return;
    // As Node's own server: the parser reads the TCP handle in C++ into one static buffer and calls back per parsed
    // piece; JavaScript sees no 'data' event and no Buffer per read. The socket still reports the end and errors.
    const handle = consumableHandle(socket);
    if (handle !== undefined) {
      handle._consumed = true;
      this.handle = handle;
      this.parser!.consume(handle);
    } else {
      socket.on('data', onSocketData);
    }
    socket.resume();
  }

  /** @internal what the parser made of one read from the consumed handle. */
  executed(result: number | LlhttpError): void {
    if (this.isClosed || this.ignoringInput) return;
    if (typeof result !== 'number') {
      this.parseError(result);
      return;
    }
    if (!this.upgraded) return;
    this.upgraded = false;
    const read = this.parser!.getCurrentBuffer();
    if (result > 0 && result < read.length) this.data(read.subarray(result));
  }

  private stopReading(): void {
    const handle = this.handle;
    if (handle === undefined) {
      this.socket.pause();
    } else if (handle.reading === true) {
      handle.reading = false;
      handle.readStop();
    }
  }

  private startReading(): void {
    if (this.isClosed || this.ignoringInput) return;
    const handle = this.handle;
    if (handle === undefined) {
      this.socket.resume();
    } else if (handle.reading !== true) {
      handle.reading = true;
      handle.readStart();
    }
  }

  /** No request in flight and none begun: a drain may close it now. */
  get idle(): boolean {
    return this.current === undefined && this.headerStartedAt < 0;
  }

  get closing(): boolean {
    return this.isClosed;
  }

  // ------------------------------------------------------------------------------------------------ parsing

  /** @internal bytes from the client. */
  data(chunk: Buffer): void {
    const parser = this.parser;
    if (parser === undefined || this.isClosed || this.ignoringInput) return;
    let rest = chunk;
    for (;;) {
      const parsed = parser.execute(rest);
      if (this.isClosed) return;
      if (typeof parsed !== 'number') {
        this.parseError(parsed);
        return;
      }
      // llhttp stops after a request that asked for an Upgrade; it is served as a plain request (Upgrade is
      // hop-by-hop), and the bytes after it are the next request.
      this.upgraded = false;
      if (parsed <= 0 || parsed >= rest.length) return;
      rest = rest.subarray(parsed);
    }
  }

  /** @internal */
  messageBegin(): void {
    this.idleSince = -1;
    if (this.headerStartedAt < 0) this.headerStartedAt = this.owner.now();
  }

  /** @internal a head too large or fragmented to come in one piece (llhttp flushes 32 lines at a time). */
  headersPart(headers: string[], url: string): void {
    for (const h of headers) this.partialHeaders.push(h);
    this.partialUrl += url;
  }

  /** @internal */
  headersComplete(versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): void {
    this.headerStartedAt = -1;
    // Requests after the last response (a client that pipelined past a `Connection: close`) are never served.
    if (this.isClosed) return;
    if (headers === undefined) {
      headers = this.partialHeaders;
      this.partialHeaders = [];
    }
    if (url === undefined || url === '') {
      url = this.partialUrl;
      this.partialUrl = '';
    }
    const name = METHODS[method] ?? 'GET';
    if (upgrade) this.upgraded = true;
    if (upgrade && name === 'CONNECT') {
      // A tunnel is not proxied (no upgrade configuration): refused like bytes that are not HTTP.
      this.refuse(CONNECT_REFUSED);
      return;
    }
    const message: Message = { req: new DownstreamRequest(name, url, versionMajor, versionMinor, headers, keepAlive, this), res: undefined, sink: undefined, body: undefined, complete: false };
    this.parsing = message;
    if (this.current === undefined) {
      this.serve(message);
      return;
    }
    message.body = [];
    this.queue.push(message);
    if (this.queue.length >= MAX_QUEUED && !this.queuePaused) {
      this.queuePaused = true;
      this.stopReading();
    }
  }

  /** @internal */
  body(chunk: Buffer): void {
    const m = this.parsing;
    if (m === undefined) return;
    if (m.sink !== undefined) m.sink.requestData(chunk);
    else m.body?.push(chunk);
  }

  /** @internal */
  messageComplete(): void {
    // Trailer lines of a chunked body come through onHeaders: not forwarded (as Node's server and undici did).
    this.partialHeaders = [];
    this.partialUrl = '';
    const m = this.parsing;
    if (m === undefined) return;
    this.parsing = undefined;
    m.complete = true;
    if (m.sink !== undefined) m.sink.requestEnd();
    if (m === this.current && m.res?.finished === true) this.next();
  }

  // ------------------------------------------------------------------------------------------------ serving

  private serve(m: Message): void {
    this.current = m;
    this.idleSince = -1;
    const socket = this.socket;
    if (m.req.expectsContinue && socket.writable) socket.write(CONTINUE, 'latin1');
    const res = new DownstreamResponse(socket, m.req, this);
    m.res = res;
    const sink = this.owner.newExchange(this, m.req, res);
    m.sink = sink;
    sink.start();
    const buffered = m.body;
    if (buffered !== undefined) {
      m.body = undefined;
      for (const chunk of buffered) sink.requestData(chunk);
      if (m.complete) sink.requestEnd();
    }
  }

  /** @internal ResponseOwner */
  responseFinished(keepAlive: boolean): void {
    const m = this.current;
    if (!keepAlive || m === undefined) {
      this.endConnection();
      return;
    }
    // The next request waits until this one's body is read to its end (discarded if nobody wanted it).
    if (m.complete) this.next();
  }

  private next(): void {
    this.current = undefined;
    const queued = this.queue.shift();
    if (queued === undefined) {
      this.idleSince = this.owner.now();
      return;
    }
    if (this.queuePaused && this.queue.length < MAX_QUEUED / 2) {
      this.queuePaused = false;
      if (!this.bodyPaused) this.startReading();
    }
    // Not on the stack of the previous response's last write (an upstream callback).
    this.current = queued;
    process.nextTick(serveQueued, this, queued);
  }

  /** @internal */
  serveQueued(m: Message): void {
    if (this.isClosed) return;
    this.current = undefined;
    this.serve(m);
  }

  // ------------------------------------------------------------------------------------------------ flow control

  /** @internal BodyFlow: the exchange's upstream is not keeping up with the request body. */
  pauseBody(): void {
    if (this.bodyPaused) return;
    this.bodyPaused = true;
    this.stopReading();
  }

  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    if (!this.queuePaused) this.startReading();
  }

  /** @internal the socket's buffer emptied: the response waiting for it continues. */
  drained(): void {
    const m = this.current;
    const res = m?.res;
    if (res === undefined || !res.waitingForDrain) return;
    res.waitingForDrain = false;
    m!.sink?.resumeUpstream();
  }

  // ------------------------------------------------------------------------------------------------ endings

  private parseError(err: LlhttpError): void {
    if (err.code === 'HPE_CLOSED_CONNECTION' && this.current !== undefined) {
      // Bytes after a request that said `Connection: close` (llhttp refuses them): that request is still served, the
      // rest is never read, and the connection closes after its response.
      this.ignoringInput = true;
      this.stopReading();
      return;
    }
    this.refuse(REJECTIONS[err.code ?? ''] ?? BAD_REQUEST);
  }

  /**
   * Answers a refusal (unless a response already started), reports it — to the request in flight, or as a request of
   * its own — and closes. Nothing of a refused request is ever forwarded.
   */
  refuse(rejection: Rejection): void {
    if (this.isClosed) return;
    const socket = this.socket;
    const m = this.current;
    const inFlight = m !== undefined && m.res !== undefined && !m.res.finished ? m : undefined;
    const answered = socket.writable && (inFlight === undefined || !inFlight.res!.headersSent);
    if (answered) socket.write(`HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status]}\r\nConnection: close\r\n\r\n`, 'latin1');
    this.isClosed = true;
    if (inFlight !== undefined) inFlight.sink?.downstreamProtocolError(answered ? rejection.status : 0, rejection.details);
    else if (m === undefined) this.owner.rejected(this, rejection);
    socket.destroy();
  }

  /** @internal the client's FIN: an incomplete request is refused (400); one in flight ends with it (flag DC). */
  clientEnded(): void {
    const parser = this.parser;
    if (this.isClosed || parser === undefined) return;
    const result = this.ignoringInput ? undefined : parser.finish();
    if (result !== undefined && typeof result !== 'number') {
      this.refuse(REJECTIONS[result.code ?? ''] ?? BAD_REQUEST);
      return;
    }
    this.isClosed = true;
    this.abortInFlight();
    this.socket.end();
  }

  /** Closes after what was written is flushed (a response that said `Connection: close`). */
  private endConnection(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.abortInFlight();
    // Envoy's delayed close: our FIN now, the socket destroyed when the client closes too, or by the manager's sweep
    // after DELAYED_CLOSE_MS — not at once, which would reset a client whose further bytes are still unread and could
    // throw away the response it has not read yet; not never, for a client that keeps its side open.
    this.closingSince = this.owner.now();
    this.socket.end();
  }

  /** Closes now (idle timeout, drain, forced shutdown). */
  destroy(): void {
    this.isClosed = true;
    this.socket.destroy();
  }

  /** @internal */
  closed(): void {
    this.isClosed = true;
    this.abortInFlight();
    const socket = this.socket as CodecSocket;
    socket.off('data', onSocketData);
    socket.off('end', onSocketEnd);
    socket.off('drain', onSocketDrain);
    socket[kCodec] = undefined;
    if (this.parser !== undefined) {
      if (this.handle !== undefined) this.parser.unconsume();
      releaseParser(this.parser);
      this.parser = undefined;
    }
    this.owner.codecClosed(this);
  }

  private abortInFlight(): void {
    const m = this.current;
    this.current = undefined;
    this.parsing = undefined;
    this.queue.length = 0;
    if (m !== undefined && m.res !== undefined && !m.res.finished) m.sink?.downstreamClosed();
  }
}

function serveQueued(codec: Http1ServerCodec, m: Message): void {
  codec.serveQueued(m);
}
