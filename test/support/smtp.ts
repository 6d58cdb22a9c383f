/**
 * A real server-first server for tests: Python's smtpd (an SMTP server that speaks first with its 220 banner), and
 * Python's smtplib as a real SMTP client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { stopProcess } from '../../src/netns/lab';
import { closedPort } from './routing';

export async function startSmtpServer(): Promise<{ port: number; stop(): Promise<void>; process: ChildProcess }> {
  const port = await closedPort();
  const child = spawn('python3', ['-W', 'ignore', '-m', 'smtpd', '-n', '-c', 'DebuggingServer', `127.0.0.1:${port}`], { stdio: 'pipe' });
  child.stdout?.resume();
  child.stderr?.resume();
  // Wait until it accepts connections.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, process: child, stop: () => stopProcess(child, 1000) };
}

/** Sends one mail with smtplib through host:port; resolves with the client's exit status and output. */
export function sendMail(port: number): Promise<{ code: number; output: string }> {
  const script = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', ${port}, timeout=5)
print(s.noop()[0])
s.sendmail('a@example.com', ['b@example.com'], 'Subject: hi\\r\\n\\r\\nthrough sidelane\\r\\n')
print(s.quit()[0])
`;
  return new Promise((resolve) => {
    execFile('python3', ['-c', script], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}
