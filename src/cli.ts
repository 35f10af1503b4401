// The `rewind` command line.
import { Command } from 'commander';

const program = new Command('rewind').description('Git-first GitOps rollback bot');
await program.parseAsync(process.argv);
