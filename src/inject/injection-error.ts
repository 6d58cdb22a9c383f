/**
 * The error injection raises for bad input: a configuration error (exit 2, code SIDELANE_ERR_CONFIG) that names
 * the workload (kind/namespace/name), the annotation or field at fault, and what was expected.
 */
import { ConfigError } from '../errors';

export interface InjectionErrorProps {
  /** `Deployment/default/hello`, or `Deployment/hello` when the document names no namespace. */
  readonly workload: string;
  /** The annotation at fault, when there is one. */
  readonly annotation?: string;
  readonly file?: string;
}

export class InjectionError extends ConfigError {
  readonly workload: string;
  readonly annotation: string | undefined;
  /** The message without the file and workload prefix. */
  readonly detail: string;

  constructor(detail: string, props: InjectionErrorProps) {
    const where = props.file ? `${props.file}: ` : '';
    super(`${where}${props.workload}: ${detail}`, props.file, [{ path: props.annotation ?? '', message: detail }]);
    this.name = 'InjectionError';
    this.workload = props.workload;
    this.annotation = props.annotation;
    this.detail = detail;
  }

  /** The same error, located in a file (the manifest layer knows the file; the pure generator does not). */
  inFile(file: string): InjectionError {
    return new InjectionError(this.detail, { workload: this.workload, annotation: this.annotation, file });
  }
}
