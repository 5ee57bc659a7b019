/**
 * A small client for QEMU's machine protocol (QMP) over a Unix socket: one
 * command at a time, asynchronous events handed to a listener.
 */
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { duration } from '../probe/failure.js';

export interface QmpEvent {
  readonly event: string;
  readonly data?: unknown;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** QEMU left a command unanswered for longer than it was given. */
export class QmpTimeoutError extends Error {
  constructor(readonly command: string, readonly ms: number) {
    super(`QEMU did not answer QMP for ${duration(ms)} (${command})`);
  }
}

/** The socket closed under a command: QEMU went away. */
export class QmpClosedError extends Error {
  constructor() {
    super('QMP connection closed');
  }
}

export class QmpClient {
  private buffer = '';
  private readonly pending: Pending[] = [];
  private greeted: Pending | undefined;
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly onEvent: (event: QmpEvent) => void,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    const fail = (err: Error): void => {
      this.closedError ??= err;
      for (const p of this.pending.splice(0)) p.reject(this.closedError);
      this.greeted?.reject(this.closedError);
    };
    socket.on('error', () => fail(new QmpClosedError()));
    socket.on('close', () => fail(new QmpClosedError()));
  }

  /**
   * Connects (retrying while QEMU creates the socket, for up to `giveUpMs`
   * or until `gone` says QEMU has exited) and negotiates capabilities.
   */
  static async connect(path: string, onEvent: (event: QmpEvent) => void, giveUpMs = 5000, gone: () => boolean = () => false): Promise<QmpClient> {
    const deadline = Date.now() + giveUpMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket, onEvent);
        await new Promise<unknown>((resolve, reject) => {
          client.greeted = { resolve, reject };
        });
        await client.execute('qmp_capabilities');
        return client;
      } catch (err) {
        if (Date.now() > deadline || gone()) throw new Error(`cannot connect to QEMU's QMP socket ${path}: ${(err as Error).message}`);
        await sleep(5);
      }
    }
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.dispatch(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private dispatch(message: Record<string, unknown>): void {
    if ('QMP' in message) {
      this.greeted?.resolve(message);
      this.greeted = undefined;
    } else if ('event' in message) {
      this.onEvent({ event: String(message.event), data: message.data });
    } else if ('return' in message) {
      this.pending.shift()?.resolve(message.return);
    } else if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      this.pending.shift()?.reject(new Error(`QMP: ${error.class ?? 'error'}: ${error.desc ?? ''}`));
    }
  }

  /** Whether no command is waiting for its answer. */
  get idle(): boolean {
    return this.pending.length === 0;
  }

  /**
   * Runs a QMP command and returns its result. An answer later than
   * `timeoutMs` rejects with QmpTimeoutError, and so does every command after
   * it (answers would no longer match their commands).
   */
  execute(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => clearTimeout(timer);
      this.pending.push({
        resolve: (value) => (settle(), resolve(value)),
        reject: (err) => (settle(), reject(err)),
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.closedError = new QmpTimeoutError(typeof args?.['command-line'] === 'string' ? args['command-line'] : command, timeoutMs);
          for (const p of this.pending.splice(0)) p.reject(this.closedError);
        }, timeoutMs);
        timer.unref();
      }
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  /** Runs a human monitor command (`info tlb`) and returns its text. */
  async monitor(commandLine: string, timeoutMs?: number): Promise<string> {
    const out = await this.execute('human-monitor-command', { 'command-line': commandLine }, timeoutMs);
    return typeof out === 'string' ? out : '';
  }

  close(): void {
    this.socket.destroy();
  }
}
