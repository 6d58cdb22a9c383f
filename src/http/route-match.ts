/**
 * Request matching (Envoy route match / Istio HTTPMatchRequest): path exact/prefix/regex, method, authority, headers
 * (exact/prefix/regex/present) and query parameters, compiled once per configuration. Regular expressions match the
 * whole value (RE2 FullMatch semantics, as Istio's). Path prefix matching sees the full path; exact and regex see it
 * without the query string, as Envoy does.
 */

export type StringMatchSpec = { readonly exact: string } | { readonly prefix: string } | { readonly regex: string };
export type HeaderMatchSpec = StringMatchSpec | { readonly present: boolean };

export interface MatchSpec {
  readonly uri?: StringMatchSpec;
  readonly method?: StringMatchSpec;
  readonly authority?: StringMatchSpec;
  readonly headers?: Readonly<Record<string, HeaderMatchSpec>>;
  readonly queryParams?: Readonly<Record<string, HeaderMatchSpec>>;
}

/** What matching reads from a request (the exchange implements it; nothing is copied). */
export interface MatchInput {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly path: string;
  /** The path without the query string. */
  readonly pathOnly: string;
  readonly authority: string;
  header(name: string): string | undefined;
  queryParam(name: string): string | undefined;
}

const EXACT = 0;
const PREFIX = 1;
const REGEX = 2;
const PRESENT = 3;
const ABSENT = 4;

/** One compiled string condition. */
export class StringMatcher {
  private constructor(
    private readonly kind: number,
    private readonly value: string,
    private readonly re: RegExp | undefined,
  ) {}

  static compile(spec: HeaderMatchSpec): StringMatcher {
    if ('exact' in spec) return new StringMatcher(EXACT, spec.exact, undefined);
    if ('prefix' in spec) return new StringMatcher(PREFIX, spec.prefix, undefined);
    if ('regex' in spec) return new StringMatcher(REGEX, spec.regex, new RegExp(`^(?:${spec.regex})$`));
    return new StringMatcher(spec.present ? PRESENT : ABSENT, '', undefined);
  }

  matches(v: string | undefined): boolean {
    switch (this.kind) {
      case EXACT:
        return v === this.value;
      case PREFIX:
        return v !== undefined && v.startsWith(this.value);
      case REGEX:
        return v !== undefined && this.re!.test(v);
      case PRESENT:
        return v !== undefined;
      default:
        return v === undefined;
    }
  }

  /** The path kind: prefix sees the full path, exact and regex the path without its query. */
  matchesPath(input: MatchInput): boolean {
    return this.kind === PREFIX ? input.path.startsWith(this.value) : this.matches(input.pathOnly);
  }
}

/** All conditions of one match block (AND). */
export class RequestMatcher {
  private readonly uri: StringMatcher | undefined;
  private readonly method: StringMatcher | undefined;
  private readonly authority: StringMatcher | undefined;
  private readonly headers: readonly (readonly [string, StringMatcher])[];
  private readonly query: readonly (readonly [string, StringMatcher])[];

  constructor(spec: MatchSpec) {
    this.uri = spec.uri && StringMatcher.compile(spec.uri);
    this.method = spec.method && StringMatcher.compile(spec.method);
    this.authority = spec.authority && StringMatcher.compile(spec.authority);
    this.headers = Object.entries(spec.headers ?? {}).map(([k, m]) => [k.toLowerCase(), StringMatcher.compile(m)] as const);
    this.query = Object.entries(spec.queryParams ?? {}).map(([k, m]) => [k, StringMatcher.compile(m)] as const);
  }

  matches(input: MatchInput): boolean {
    if (this.uri && !this.uri.matchesPath(input)) return false;
    if (this.method && !this.method.matches(input.method)) return false;
    if (this.authority && !this.authority.matches(input.authority)) return false;
    for (let i = 0; i < this.headers.length; i++) {
      const [name, m] = this.headers[i]!;
      if (!m.matches(input.header(name))) return false;
    }
    for (let i = 0; i < this.query.length; i++) {
      const [name, m] = this.query[i]!;
      if (!m.matches(input.queryParam(name))) return false;
    }
    return true;
  }
}
