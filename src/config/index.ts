export * from './duration.ts';
export * from './load.ts';
export {
  configSchema,
  GITHUB_PERMISSIONS,
  MODES,
  type ChatOpsConfig,
  type ForgeConfig,
  type NotificationsConfig,
  type SlackChatOpsConfig,
} from './schema.ts';
