// Owns binding a stream server (TCP, and the HTTP server under WebSocket) to its address: the
// start-up error rejects, and any later server error is reported, never thrown (it would end the
// process). Must not import anything outside src/sip.
import type { Server } from 'node:net';
import type { Endpoint, FrameSink } from './types';

/** Listens; resolves with the bound address (the real port after port 0). */
export function listenServer(server: Server, bind: Endpoint, sink: FrameSink): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.address, () => {
      server.off('error', reject);
      server.on('error', (err) => sink.report({ kind: 'socket-error', reason: err.message }));
      const addr = server.address();
      resolve(addr && typeof addr === 'object' ? { address: addr.address, port: addr.port } : bind);
    });
  });
}
