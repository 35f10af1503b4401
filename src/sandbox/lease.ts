// coordination.k8s.io/v1 Lease as kube-apiserver decodes it: acquireTime and renewTime are
// metav1.MicroTime, parsed with the fixed layout "2006-01-02T15:04:05.000000Z07:00", so a JavaScript
// Date's toISOString() (three digits) is refused with 400 before anything is stored
// (kubernetes-client/javascript#828). Leader-election clients must send six digits.
import { StatusError, type KubeObject } from './store.ts';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

export function assertLeaseDecodes(lease: KubeObject): void {
  for (const field of ['acquireTime', 'renewTime']) {
    const value: unknown = lease.spec?.[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !MICRO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
      throw new StatusError(
        400,
        'BadRequest',
        `Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse spec.${field}`,
      );
    }
  }
  for (const field of ['leaseDurationSeconds', 'leaseTransitions']) {
    const value: unknown = lease.spec?.[field];
    if (value !== undefined && value !== null && !Number.isInteger(value)) {
      throw new StatusError(
        400,
        'BadRequest',
        `Lease in version "v1" cannot be handled as a Lease: spec.${field}: readNumberAsInt32: expects a number`,
      );
    }
  }
}
