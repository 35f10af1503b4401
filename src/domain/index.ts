export * from './app-ref.ts';
export * from './branch.ts';
export * from './commit-sha.ts';
export * from './errors.ts';
export * from './incident.ts';
export * from './revision.ts';
export * from './outbound-text.ts';
