/**
 * Drives test/support/apps/conn-holder (connections held open and commanded over stdin) from a test: one command
 * line out, one JSON answer back, plus the answer shapes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export interface OpenResult {
  opened: number;
  failed: number;
  errors: Record<string, number>;
  held: number;
}

export interface PingResult {
  ok: number;
  failed: number;
  held: number;
  /** Local ports of the connections whose echo did not come back. */
  failedPorts: number[];
}

export class Holder {
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  constructor(private readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(line);
      } else this.lines.push(line);
    });
  }
  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => (this.waiter = r));
  }
  async ready(): Promise<void> {
    assert.equal(await this.next(), 'ready');
  }
  async send<T>(cmd: string): Promise<T> {
    this.child.stdin!.write(`${cmd}\n`);
    return JSON.parse(await this.next()) as T;
  }
}
