/**
 * A request head as the downstream HTTP/1.1 codec parsed it (method, target, version, the header lines as received),
 * with the few headers the proxy itself reads picked out in one pass. Header lines stay a flat [name, value, …] list
 * in their received order and case, which is also what goes upstream: no per-request header object is built.
 */

/** Flow control for a request body the exchange streams upstream (the codec stops reading the socket). */
export interface BodyFlow {
  pauseBody(): void;
  resumeBody(): void;
}

export class DownstreamRequest {
  // The headers the proxy reads: the first occurrence (framing headers are validated by llhttp already).
  readonly host: string | undefined;
  readonly contentLength: string | undefined;
  readonly transferEncoding: string | undefined;
  readonly connection: string | undefined;
  readonly requestId: string | undefined;
  readonly forwardedProto: string | undefined;
  readonly forwardedFor: string | undefined;
  readonly userAgent: string | undefined;
  /** `Expect: 100-continue` on an HTTP/1.1 request: the proxy answers 100 itself (Envoy's default). */
  readonly expectsContinue: boolean;

  constructor(
    readonly method: string,
    /** The request target as sent (origin-form, or absolute-form from a client configured with a proxy). */
    readonly url: string,
    readonly versionMajor: number,
    readonly versionMinor: number,
    readonly rawHeaders: readonly string[],
    /** llhttp's verdict: the connection may carry another request after this one (version and Connection header). */
    readonly keepAlive: boolean,
    private readonly flow: BodyFlow,
  ) {
    let host, contentLength, transferEncoding, connection, requestId, forwardedProto, forwardedFor, userAgent, expect: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      // Dispatch on length first: most header names match none of these and cost one comparison.
      switch (name.length) {
        case 4:
          if (host === undefined && name.toLowerCase() === 'host') host = rawHeaders[i + 1];
          break;
        case 6:
          if (expect === undefined && name.toLowerCase() === 'expect') expect = rawHeaders[i + 1];
          break;
        case 10:
          if (connection === undefined && name.toLowerCase() === 'connection') connection = rawHeaders[i + 1];
          else if (userAgent === undefined && name.toLowerCase() === 'user-agent') userAgent = rawHeaders[i + 1];
          break;
        case 12:
          if (requestId === undefined && name.toLowerCase() === 'x-request-id') requestId = rawHeaders[i + 1];
          break;
        case 14:
          if (contentLength === undefined && name.toLowerCase() === 'content-length') contentLength = rawHeaders[i + 1];
          break;
        case 15:
          if (forwardedFor === undefined && name.toLowerCase() === 'x-forwarded-for') forwardedFor = rawHeaders[i + 1];
          break;
        case 17:
          if (transferEncoding === undefined && name.toLowerCase() === 'transfer-encoding') transferEncoding = rawHeaders[i + 1];
          else if (forwardedProto === undefined && name.toLowerCase() === 'x-forwarded-proto') forwardedProto = rawHeaders[i + 1];
          break;
        default:
          break;
      }
    }
    this.host = host;
    this.contentLength = contentLength;
    this.transferEncoding = transferEncoding;
    this.connection = connection;
    this.requestId = requestId;
    this.forwardedProto = forwardedProto;
    this.forwardedFor = forwardedFor;
    this.userAgent = userAgent;
    this.expectsContinue = versionMajor === 1 && versionMinor === 1 && expect !== undefined && expect.toLowerCase() === '100-continue';
  }

  get isHttp11(): boolean {
    return this.versionMajor === 1 && this.versionMinor === 1;
  }

  /** `HTTP/1.1`, `HTTP/1.0`: the access log's %PROTOCOL%. */
  get protocol(): string {
    return this.isHttp11 ? 'HTTP/1.1' : `HTTP/${this.versionMajor}.${this.versionMinor}`;
  }

  /** Whether a body follows the head (a Content-Length other than 0, or a Transfer-Encoding). */
  get hasBody(): boolean {
    return this.transferEncoding !== undefined || (this.contentLength !== undefined && this.contentLength !== '0');
  }

  /**
   * A header's value by lower-case name; several lines of it are joined with `,` (as Envoy's header matcher sees
   * them). Undefined when absent.
   */
  header(lowerName: string): string | undefined {
    const raw = this.rawHeaders;
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length !== lowerName.length || name.toLowerCase() !== lowerName) continue;
      value = value === undefined ? raw[i + 1]! : `${value},${raw[i + 1]!}`;
    }
    return value;
  }

  /** Stops reading the body from the client (the upstream side is not keeping up). */
  pause(): void {
    this.flow.pauseBody();
  }

  resume(): void {
    this.flow.resumeBody();
  }
}
