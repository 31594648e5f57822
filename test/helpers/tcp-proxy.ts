import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP proxy that can hold traffic: while held, bytes from clients are queued instead of forwarded, so
 * whatever the client asked of the upstream (a gRPC call to Temporal, say) stays in flight until `release()`.
 * Answers from the upstream are always forwarded.
 */
export interface TcpProxy {
  /** host:port to connect to instead of the upstream. */
  address: string;
  hold(): void;
  release(): void;
  /** Bytes queued while held (not yet forwarded). */
  readonly heldBytes: number;
  close(): Promise<void>;
}

export async function startTcpProxy(upstream: string): Promise<TcpProxy> {
  const [host, port] = splitAddress(upstream);
  const sockets = new Set<Socket>();
  let held = false;
  /** What clients sent while held, in order; `null` stands for the client's end of stream. */
  let queue: { target: Socket; chunk: Buffer | null }[] = [];

  const server = createServer((client) => {
    const target = connect(port, host);
    for (const socket of [client, target]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk) => {
      if (held) queue.push({ target, chunk });
      else target.write(chunk);
    });
    target.on('data', (chunk) => client.write(chunk));
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
    client.on('end', () => {
      if (held) queue.push({ target, chunk: null });
      else target.end();
    });
    target.on('end', () => client.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port: proxyPort } = server.address() as AddressInfo;

  return {
    address: `127.0.0.1:${proxyPort}`,
    hold() {
      held = true;
    },
    release() {
      held = false;
      const pending = queue;
      queue = [];
      for (const { target, chunk } of pending) {
        if (target.destroyed) continue;
        if (chunk) target.write(chunk);
        else target.end();
      }
    },
    get heldBytes() {
      return queue.reduce((sum, { chunk }) => sum + (chunk?.length ?? 0), 0);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitAddress(address: string): [string, number] {
  const index = address.lastIndexOf(':');
  return [address.slice(0, index), Number(address.slice(index + 1))];
}
