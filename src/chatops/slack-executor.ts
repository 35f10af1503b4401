// The Slack channel's view of the ChatOps service: a verified Slack user and channel become the
// service's actor and channel (who asked, where, a stable request id), and its reply's text goes back.
import type { ChatOpsConfig } from '../config/index.ts';
import type { ChatCommandExecutor } from './executor.ts';
import type { ChatOpsService } from './service.ts';

export function slackExecutor(service: ChatOpsService, config: ChatOpsConfig): ChatCommandExecutor {
  return {
    targetApp: (command) => service.targetApp(command),
    async execute(command, actor, channel) {
      if (actor.kind !== 'slack' || channel.kind !== 'slack') throw new Error('not a Slack request');
      const reply = await service.execute(
        command,
        // Slack admins are named by user id in chatops.admins (GitHub admins by login).
        { name: `${actor.userName || actor.userId} (Slack)`, admin: config.admins.includes(actor.userId) },
        {
          kind: 'slack',
          where: `Slack #${channel.channelName || channel.channelId}`,
          requestId: channel.requestId,
        },
      );
      return reply.text;
    },
  };
}
