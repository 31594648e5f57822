// Child process of bench/run.ts: the trivial Fastify route whose requests/s is the HTTP ceiling of this machine
// (same Fastify, same Node, no logger, no validation, no I/O).
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/ping', () => ({ ok: true }));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`trivial server listening ${address}`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
