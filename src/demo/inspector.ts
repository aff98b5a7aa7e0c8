// The demo's relay to the Stately inspector. @statelyai/inspect's own createInspectorServer listens
// on every interface and crashes on a taken port, so the relay is ours: an HTTP page and a
// WebSocket hub on 127.0.0.1 only (like the sandbox), a clear error when the port is taken, and a
// clear one when the optional peer dependency is not installed. The page embeds the hosted
// inspector UI, so viewing needs internet; nothing else does.
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type { InspectionEvent } from 'xstate';

export const INSPECT_PACKAGE = '@statelyai/inspect';
const INSPECTOR_UI = 'https://stately.ai/inspect';

/** The inspector cannot start; the message says what to do. */
export class InspectorUnavailableError extends Error {
  override name = 'InspectorUnavailableError';
}

export interface InspectorRelay {
  /** Where the viewer page is. */
  url: string;
  port: number;
  inspect: (event: InspectionEvent) => void;
  stop(): Promise<void>;
}

function page(port: number): string {
  return `<!DOCTYPE html>
<html><head><title>Switchboard — Stately Inspector</title>
<style>*{margin:0;padding:0}html,body{height:100%}iframe{width:100%;height:100%;border:none}</style></head>
<body><iframe id="inspector" src="${INSPECTOR_UI}"></iframe>
<script>
  const iframe = document.getElementById('inspector');
  const buffer = [];
  let connected = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      connected = true;
      for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, '*');
    }
  });
  const ws = new WebSocket('ws://127.0.0.1:${port}');
  ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (connected) iframe.contentWindow.postMessage(data, '*');
    else buffer.push(data);
  };
</script></body></html>`;
}

interface WsModule {
  WebSocketServer: new (options: { server: Server }) => {
    clients: Set<{ readyState: number; send(data: string): void }>;
    on(event: 'connection', listener: (ws: { send(data: string): void; on(event: 'message', l: (data: unknown) => void): void }) => void): void;
    close(): void;
  };
  WebSocket: { OPEN: number };
}

async function loadInspect(): Promise<{ createWebSocketInspector: (o: { url: string }) => { inspect: unknown; stop(): void }; ws: WsModule }> {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(INSPECT_PACKAGE);
  } catch {
    throw new InspectorUnavailableError(
      `--inspect needs the optional peer dependency ${INSPECT_PACKAGE}, which is not installed: run \`npm install --save-dev ${INSPECT_PACKAGE}@^0.7.2\` and try again`,
    );
  }
  const mod = (await import(INSPECT_PACKAGE)) as { createWebSocketInspector: (o: { url: string }) => { inspect: unknown; stop(): void } };
  // `ws` comes with @statelyai/inspect: resolve it from there, not from this package.
  const ws = createRequire(entry)('ws') as WsModule;
  return { createWebSocketInspector: mod.createWebSocketInspector, ws };
}

/** Starts the relay on 127.0.0.1:`port` (0: any free port) and an inspector that feeds it. */
export async function startInspectorRelay(port: number): Promise<InspectorRelay> {
  const { createWebSocketInspector, ws } = await loadInspect();
  let bound = port;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(bound));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(new InspectorUnavailableError(`--inspect: port ${port} on 127.0.0.1 is already in use; pass another (\`--inspect 8081\`), or 0 for any free port`));
      } else {
        reject(new InspectorUnavailableError(`--inspect: cannot listen on 127.0.0.1:${port} (${err.code ?? err.message})`));
      }
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  bound = (server.address() as { port: number }).port;
  // A hub: the engine's inspector connects as one client, viewer pages as others; every message
  // goes to all the others, and late viewers get the recent past.
  const hub = new ws.WebSocketServer({ server });
  const recent: string[] = [];
  hub.on('connection', (socket) => {
    for (const msg of recent) socket.send(msg);
    socket.on('message', (data) => {
      const msg = String(data);
      recent.push(msg);
      if (recent.length > 200) recent.shift();
      for (const client of hub.clients) if ((client as unknown) !== socket && client.readyState === ws.WebSocket.OPEN) client.send(msg);
    });
  });
  const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${bound}` });
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    inspect: inspector.inspect as (event: InspectionEvent) => void,
    async stop() {
      inspector.stop();
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function describeInspector(relay: InspectorRelay, out: Writable): void {
  out.write(`Inspector: open ${relay.url} (the viewer UI loads from ${INSPECTOR_UI.replace('https://', '')})\n`);
}
