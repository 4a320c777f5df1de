/**
 * A small local HTTP server (node:http) for fixed content: every URL path maps to bytes held in
 * memory or to a file read when asked. It listens on 127.0.0.1 only, answers GET and HEAD, and
 * says clearly when the port is taken.
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
export function serve(routes: ReadonlyMap<string, Content>, port: number): Promise<Server> {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', `http://${HOST}`).pathname);
    const content = routes.get(urlPath);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (!content) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${urlPath}\n`);
      return;
    }
    let body: Uint8Array;
    try {
      body = 'bytes' in content ? content.bytes : fs.readFileSync(content.file);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`cannot read ${urlPath}: ${(err as Error).message}\n`);
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
