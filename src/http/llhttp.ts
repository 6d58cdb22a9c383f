/**
 * Node's llhttp binding (`HTTPParser` from node:_http_common, src/node_http_parser.cc), typed: the native HTTP/1.x
 * parser Node's own server and client run. Both of sidelane's HTTP/1.1 codecs drive it directly — the downstream
 * server codec (src/http/http1-server-codec.ts) and the upstream client connection (src/upstream/http1-connection.ts)
 * — without Node's IncomingMessage/ServerResponse around it.
 */

/** A parse failure, returned (never thrown) by execute() and finish(); `code` is llhttp's (HPE_*). */
export interface LlhttpError extends Error {
  code?: string;
  reason?: string;
  bytesParsed?: number;
}

/** The libuv stream behind a net.Socket (Node's TCP wrap), which a parser can read directly. */
export interface StreamHandle {
  readonly isStreamBase?: boolean;
  /** Node's own flag: the handle is being read (net.Socket checks it before readStart()). */
  reading?: boolean;
  /** Set by whoever made a parser consume the handle (Node's server uses the same flag). */
  _consumed?: boolean;
  readStart(): number;
  readStop(): number;
}

/** One parser. Callbacks are set by index (`parser[HTTPParser.kOnBody] = fn`) and called with the parser as `this`. */
export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the parse error. */
  execute(data: Buffer): number | LlhttpError;
  /** End of input: completes a body delimited by the close, or the error for a truncated message. */
  finish(): number | LlhttpError | undefined;
  /** Reads the stream in C++ and parses as it reads (no 'data' event, no Buffer per read); kOnExecute reports. */
  consume(handle: StreamHandle): void;
  unconsume(): void;
  /** A copy of the read being parsed (inside kOnExecute). */
  getCurrentBuffer(): Buffer;
  /** Ends the parser's async resource (before it is reused). */
  free(): void;
  close(): void;
  [callback: number]: unknown;
}

export interface LlhttpParserClass {
  new (): LlhttpParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('node:_http_common') as { HTTPParser: LlhttpParserClass; methods: readonly string[] };

export const HTTPParser: LlhttpParserClass = binding.HTTPParser;
/** Method names by llhttp's method number (what kOnHeadersComplete passes for a request). */
export const METHODS: readonly string[] = binding.methods;

/** The TCP handle of a socket, when a parser may consume it (a stream handle nobody consumes yet, nothing buffered). */
export function consumableHandle(socket: import('node:net').Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;
  return handle?.isStreamBase === true && handle._consumed !== true && socket.readableLength === 0 ? handle : undefined;
}
