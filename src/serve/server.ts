/**
 * A small local HTTP server (node:http) for fixed content: every URL path maps to bytes held in
 * memory or to a file read when asked, so no request can reach any other file (`/../`, `%2e%2e`
 * and `%2f` included: a path is looked up, never joined). It listens on 127.0.0.1 only, answers
 * GET and HEAD, and says clearly when the port is taken.
 *
 * A web page elsewhere can still send requests to 127.0.0.1 through a name it controls that
 * resolves there (DNS rebinding); those carry that name in their Host header, so a request whose
 * Host is not a loopback name or address is refused with 403. No CORS header is ever sent, so
 * other origins cannot read what the server answers.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeFailure, VaeError } from '../errors.js';

export const HOST = '127.0.0.1';

export type Content = { bytes: Uint8Array } | { file: string };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
};

function contentType(urlPath: string): string {
  return TYPES[path.extname(urlPath)] ?? 'application/octet-stream';
}

export interface Server {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serve `routes` (URL path -> content; '/' for the page) on 127.0.0.1:port (0: any free port). */
/**
 * Whether a Host header names this machine's loopback: localhost (or a name under .localhost),
 * 127.x.x.x, [::1] or the address the server is bound to, with any port.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(host.trim());
  if (!m) return false;
  const name = m[1].toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name === HOST || /^127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(name) || name === '[::1]';
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(body);
}

export function serve(routes: ReadonlyMap<string, Content>, port: number): Promise<Server> {
  const server = http.createServer((req, res) => {
    if (!isLoopbackHost(req.headers.host)) {
      text(res, 403, `this server answers only requests to localhost or ${HOST}\n`);
      return;
    }
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', `http://${HOST}`).pathname);
    } catch {
      text(res, 400, 'malformed URL\n');
      return;
    }
    const content = routes.get(urlPath);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (!content) {
      text(res, 404, `not found: ${urlPath}\n`);
      return;
    }
    let body: Uint8Array;
    try {
      body = 'bytes' in content ? content.bytes : fs.readFileSync(content.file);
    } catch (err) {
      text(res, 500, `cannot read ${urlPath}: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': contentType(urlPath === '/' ? '/index.html' : urlPath),
      'content-length': body.length,
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  // Idle keep-alive connections would hold close() open.
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new VaeError(`port ${port} on ${HOST} is taken`, { hint: 'choose another with --port N, or --port 0 for any free port' }));
      else if (err.code === 'EACCES') reject(new VaeError(`not allowed to listen on port ${port}`, { hint: 'ports below 1024 need privileges; choose another with --port N' }));
      else reject(new RuntimeFailure(`cannot start the web server: ${err.message}`));
    });
    server.listen(port, HOST, () => {
      const addr = server.address();
      const actual = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        url: `http://${HOST}:${actual}/`,
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
