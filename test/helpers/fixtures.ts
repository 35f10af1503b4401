// Real Argo CD, Flux and Kubernetes objects, and other projects' health test cases, that the tests
// read: the project's shared folder beside the checkout, wherever the checkout is.
import { existsSync } from 'node:fs';
import path from 'node:path';

const candidates = [path.resolve(import.meta.dirname, '../../../shared/fixtures'), '/work/shared/fixtures'];

export const FIXTURES = candidates.find((dir) => existsSync(dir)) ?? candidates[0]!;
