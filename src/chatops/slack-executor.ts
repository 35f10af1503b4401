// The Slack channel's view of the ChatOps service: a verified Slack user and channel become the
// service's actor and channel (who asked, where, a stable request id), and its reply's text goes back.
// The person is named by the verified user id (`slack:U…`) in everything Rewind records (incident,
// revert commit, pull request, pause switch); the display name, chosen by the user, only follows it.
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
        { name: slackIdentity(actor.userId, actor.userName), admin: config.admins.includes(actor.userId) },
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

/** `slack:U0123ABCD (alice)`: the verified user id first, the self-chosen display name after it. */
function slackIdentity(userId: string, userName: string): string {
  return userName === '' ? `slack:${userId}` : `slack:${userId} (${userName})`;
}
