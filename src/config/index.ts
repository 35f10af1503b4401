export * from './duration.ts';
export * from './load.ts';
export { configSchema, MODES, type ForgeConfig } from './schema.ts';
