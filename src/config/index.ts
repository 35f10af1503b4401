export * from './duration.ts';
export * from './load.ts';
export { configSchema, GITHUB_PERMISSIONS, MODES, type ChatOpsConfig, type ForgeConfig } from './schema.ts';
