export * from './duration.ts';
export * from './load.ts';
export {
  configSchema,
  DEFAULT_ALERT_APP_LABELS,
  type AlertsConfig,
  GITHUB_PERMISSIONS,
  MODES,
  type ChatOpsConfig,
  type ForgeConfig,
  type NotificationsConfig,
  type SlackChatOpsConfig,
} from './schema.ts';
