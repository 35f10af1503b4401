export * from './culprit.ts';
export * from './path-closure.ts';
export * from './push.ts';
export * from './repo.ts';
export * from './revert.ts';
export * from './workspace.ts';
