// `rewind worker <role>` as a child process lives in src/sandbox/child-worker.ts (the fault campaign uses it too).
export * from '../../src/sandbox/child-worker.ts';
