// A throwaway self-signed serving certificate for the sandbox API server. kubectl (client-go's
// clientcmd) sends credentials only over TLS: against a plain-http server every request is
// anonymous, so a sandbox that authenticates (RBAC mode) has to serve https. Clients skip
// verification (`insecure-skip-tls-verify` in the kubeconfig), as they already do for http.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export interface ServingCertificate {
  key: string;
  cert: string;
}

export async function selfSignedCertificate(host: string): Promise<ServingCertificate> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-sandbox-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    const san = /^[\d.]+$/.test(host) ? `IP:${host}` : `DNS:${host}`;
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=rewind-sandbox',
      '-addext',
      `subjectAltName=${san},DNS:localhost`,
    ]);
    return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
