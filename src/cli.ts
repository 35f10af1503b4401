// The `rewind` command line. Composition root: the only place (with workers/ and src/server) that
// builds adapters.
import { Command, InvalidArgumentError } from 'commander';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command('rewind')
  .description(
    'Git-first GitOps rollback bot: reverts the offending commit in Git and proves the cluster converged back',
  )
  .showHelpAfterError();

program
  .command('sandbox')
  .description(
    'run a local Kubernetes-compatible sandbox cluster (API server, Deployment controller, Flux syncer)',
  )
  .option('--kubeconfig <file>', 'write a kubeconfig for the sandbox here', './kubeconfig')
  .option('--port <n>', 'port to listen on (0 = any free port)', integer, 0)
  .option('--host <addr>', 'address to listen on', '127.0.0.1')
  .option('--pod-ready-ms <n>', 'how long a simulated Pod takes to become Ready', integer, 500)
  .option(
    '--unready-image <glob>',
    'Pods with a matching image never become Ready (ImagePullBackOff); repeatable',
    collect,
    [],
  )
  .option(
    '--crash-image <glob>',
    'Pods with a matching image crash-loop (CrashLoopBackOff); repeatable',
    collect,
    [],
  )
  .action(
    async (options: {
      kubeconfig: string;
      port: number;
      host: string;
      podReadyMs: number;
      unreadyImage: string[];
      crashImage: string[];
    }) => {
      const { startSandbox } = await import('./sandbox/sandbox.ts');
      const sandbox = await startSandbox({
        kubeconfig: options.kubeconfig,
        port: options.port,
        host: options.host,
        podReadyMs: options.podReadyMs,
        unreadyImages: options.unreadyImage,
        crashImages: options.crashImage,
      });
      console.log(`sandbox ready ${sandbox.url}`);
      console.error(
        `kubeconfig written to ${sandbox.kubeconfigPath}; try: kubectl --kubeconfig ${sandbox.kubeconfigPath} get deployments`,
      );
      await new Promise<void>((resolve) => {
        const shutdown = (): void => {
          void sandbox.stop().then(resolve);
        };
        process.once('SIGINT', shutdown);
        process.once('SIGTERM', shutdown);
      });
    },
  );

program
  .command('demo')
  .description('run the demo on a fresh sandbox cluster')
  .action(async () => {
    const { runDemo } = await import('./demo/demo.ts');
    process.exitCode = await runDemo({ out: process.stdout });
  });

await program.parseAsync(process.argv);
